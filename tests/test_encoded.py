"""Encoded forwarding between aiortc peer connections: A encodes, B forwards
without decoding, C decodes what A made; B decodes only on demand, and a
keyframe request from C reaches A."""

from __future__ import annotations

import asyncio

import pytest
from _peers import link
from _waits import wait_until

from decart_widgets.common.rtc import new_peer_connection
from decart_widgets.common.stamp import read_stamp
from decart_widgets.media.convert import luma_view
from decart_widgets.media.encoded import (
    EncodedTap,
    ForwardTrack,
    is_keyframe,
    relay_keyframe_requests,
)
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump

pytestmark = pytest.mark.timeout(60)



class Chain:
    """A (test pattern, VP8) -> B (EncodedTap -> ForwardTrack) -> C."""

    async def start(self):
        loop = asyncio.get_running_loop()
        self.pump = FramePump(TestPatternSource(), 640, 360, 30)
        self.a, self.b_in, self.b_out, self.c = (new_peer_connection() for _ in range(4))
        self.a_sender = self.a.addTrack(self.pump.track())
        self.a_keyframe_requests = 0
        relay_keyframe_requests(self.a_sender, self._count_a)
        self.forward = None
        self.tap = None
        b_track: asyncio.Future = loop.create_future()

        @self.b_in.on("track")
        def on_b_track(track):
            receiver = next(t.receiver for t in self.b_in.getTransceivers() if t.receiver.track is track)
            self.tap = EncodedTap(receiver)
            self.tap.decode = False
            self.forward = ForwardTrack("video/VP8", on_need_keyframe=self.tap.request_keyframe)
            self.tap.add_consumer(self.forward.push)
            b_track.set_result(track)

        await link(self.a, self.b_in)
        self.b_track = await asyncio.wait_for(b_track, 10)
        self.b_out_sender = self.b_out.addTrack(self.forward)
        relay_keyframe_requests(self.b_out_sender, self.tap.request_keyframe)
        c_track: asyncio.Future = loop.create_future()
        self.c.on("track", lambda t: c_track.done() or c_track.set_result(t))
        await link(self.b_out, self.c)
        self.c_track = await asyncio.wait_for(c_track, 10)
        return self

    def _count_a(self):
        self.a_keyframe_requests += 1

    async def close(self):
        self.pump.stop()
        for pc in (self.a, self.b_in, self.b_out, self.c):
            await pc.close()


@pytest.fixture
async def chain():
    c = await Chain().start()
    yield c
    await c.close()


async def test_forwarded_frames_decode_at_the_far_end_unchanged(chain):
    counters = []
    for _ in range(30):
        frame = await asyncio.wait_for(chain.c_track.recv(), 10)
        assert (frame.width, frame.height) == (640, 360)
        counter = read_stamp(luma_view(frame))
        assert counter is not None, "a forwarded frame decoded to a corrupt picture"
        counters.append(counter)
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    # B never decoded: every frame was only forwarded
    assert chain.tap.decoded == 0 and chain.tap.skipped_decodes >= 30
    assert chain.forward.forwarded >= 30


async def test_decoding_resumes_at_a_keyframe_on_demand(chain):
    await asyncio.wait_for(chain.c_track.recv(), 10)
    requests_before = chain.a_keyframe_requests
    chain.tap.decode = True
    frame = await asyncio.wait_for(chain.b_track.recv(), 10)
    assert read_stamp(luma_view(frame)) is not None
    assert chain.tap.decoded >= 1
    assert chain.a_keyframe_requests > requests_before, "turning decoding on asks A for a keyframe"
    # forwarding went on meanwhile
    assert read_stamp(luma_view(await asyncio.wait_for(chain.c_track.recv(), 10))) is not None


async def test_keyframe_request_from_the_far_end_reaches_the_encoder(chain):
    await asyncio.wait_for(chain.c_track.recv(), 10)
    await asyncio.sleep(0.6)  # past the rate limit of the start-up request
    before = chain.a_keyframe_requests
    c_receiver = chain.c.getReceivers()[0]
    ssrc = chain.b_out_sender._ssrc
    for _ in range(5):  # a burst of requests ...
        await c_receiver._send_rtcp_pli(ssrc)
    await wait_until(lambda: chain.a_keyframe_requests > before, 5, "the keyframe request to reach A")
    await asyncio.sleep(0.2)
    # ... passes upstream once, not as a storm
    assert chain.a_keyframe_requests - before == 1


async def test_a_lagging_forward_skips_to_the_next_keyframe():
    requests = []
    track = ForwardTrack("video/VP8", on_need_keyframe=lambda: requests.append(1))
    key, delta = b"\x00rest", b"\x01rest"

    class F:
        def __init__(self, data, ts):
            self.mime_type, self.data, self.timestamp = "video/VP8", data, ts
            self.keyframe = is_keyframe("video/VP8", data)

    track.push(F(delta, 0))  # before any keyframe: dropped, keyframe asked for
    assert track.dropped == 1 and requests
    track.push(F(key, 1))
    for ts in range(2, 20):
        track.push(F(delta, ts))
    # the backlog was cut and it waits for the next keyframe
    assert track._queue.qsize() < 9 and track.dropped > 1
    track.push(F(key, 50))
    packets = [await track.recv() for _ in range(track._queue.qsize())]
    assert packets[-1].pts == 50 and bytes(packets[-1]) == key
    track.stop()


def test_keyframe_detection():
    assert is_keyframe("video/VP8", b"\x10\x02\x00") and not is_keyframe("video/VP8", b"\x11")
    assert is_keyframe("video/H264", b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x65x")
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41abc")
    assert not is_keyframe("video/VP8", b"")


def test_vp8_keyframe_size_is_read_from_the_header():
    import av
    import numpy as np

    from decart_widgets.media.encoded import EncodedFrame, vp8_keyframe_size

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 360, "yuv420p"
    frames = [av.VideoFrame.from_ndarray(np.full((360, 640, 3), v, np.uint8), format="rgb24").reformat(format="yuv420p")
              for v in (10, 200)]
    packets = [bytes(p) for f in frames for p in codec.encode(f)] + [bytes(p) for p in codec.encode(None)]
    assert vp8_keyframe_size(packets[0]) == (640, 360)
    assert EncodedFrame("video/VP8", packets[0], 0).size == (640, 360)
    assert vp8_keyframe_size(packets[1]) is None and EncodedFrame("video/VP8", packets[1], 1).size is None
    assert vp8_keyframe_size(b"\x00\x00\x00\x9d\x01\x2a\x80\x02\x68\x41") is None  # asks to upscale


def test_forwarding_switch_reads_the_environment():
    import os
    import subprocess
    import sys

    code = "from decart_widgets.media import encoded; print(encoded.ENABLED)"
    for value, expected in (("0", "False"), ("off", "False"), ("1", "True")):
        env = {**os.environ, "DECART_WIDGETS_FORWARD": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == expected, (value, out.stdout, out.stderr)
