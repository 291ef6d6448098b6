"""Switching between forwarding and encoding, with aiortc peers in-process:
A encodes a stamped test pattern; B receives it (an EncodedTap feeding an
EncodedFeed) and sends it on to C through a SwitchingTrack, as packets while
it may, as frames it decoded and encodes again otherwise. C must decode
every frame, in order, with timestamps that never go back."""

from __future__ import annotations

import asyncio

import pytest
from _peers import link
from _waits import wait_until

from decart_widgets.common.rtc import new_peer_connection
from decart_widgets.common.slot import LatestSlot
from decart_widgets.common.stamp import read_stamp
from decart_widgets.media import encoded
from decart_widgets.media.convert import luma_view
from decart_widgets.media.encoded import EncodedTap, relay_keyframe_requests
from decart_widgets.media.forwarding import (
    FORWARD,
    HOLD,
    STOP,
    EncodedConsumer,
    EncodedFeed,
    PtsRebaser,
    SwitchingTrack,
)
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump

pytestmark = pytest.mark.timeout(60)



class DecodedFrames:
    """B's decoded frames, newest wins (as the widget's camera source keeps them)."""

    def __init__(self, track):
        self.slot: LatestSlot = LatestSlot()
        self.task = asyncio.ensure_future(self._read(track))

    async def _read(self, track):
        while True:
            self.slot.put(await track.recv())

    async def next(self):
        return await self.slot.take_async()


class Track(SwitchingTrack):
    def __init__(self, frames: DecodedFrames, verdict):
        super().__init__(frames.next, verdict=verdict)
        self._frames = frames

    def _leaving_packets(self):
        self._frames.slot.clear()  # decoded before the packets: stale


class Chain:
    """A (test pattern, VP8) -> B (EncodedTap -> EncodedFeed -> SwitchingTrack) -> C."""

    async def start(self):
        loop = asyncio.get_running_loop()
        self.verdict = FORWARD
        self.pixels = False
        self.pump = FramePump(TestPatternSource(), 640, 360, 30)
        self.a, self.b_in, self.b_out, self.c = (new_peer_connection() for _ in range(4))
        self.a_sender = self.a.addTrack(self.pump.track())
        self.a_keyframe_requests = 0
        relay_keyframe_requests(self.a_sender, self._count_a)
        self.feed = EncodedFeed(pixels_wanted=lambda: self.pixels)
        b_track: asyncio.Future = loop.create_future()

        @self.b_in.on("track")
        def on_b_track(track):
            receiver = next(t.receiver for t in self.b_in.getTransceivers() if t.receiver.track is track)
            self.tap = EncodedTap(receiver)
            self.feed.attach(self.tap)
            b_track.set_result(track)

        await link(self.a, self.b_in)
        self.frames = DecodedFrames(await asyncio.wait_for(b_track, 10))
        self.track = Track(self.frames, lambda frame: self.verdict)
        sender = self.b_out.addTrack(self.track)
        self.track.bind(next(t for t in self.b_out.getTransceivers() if t.sender is sender))
        self.track.set_feed(self.feed)
        c_track: asyncio.Future = loop.create_future()
        self.c.on("track", lambda t: c_track.done() or c_track.set_result(t))
        await link(self.b_out, self.c)
        self.c_track = await asyncio.wait_for(c_track, 10)
        self.last_pts = -1
        self.last_stamp = -1
        return self

    def _count_a(self):
        self.a_keyframe_requests += 1

    async def receive(self, n: int) -> None:
        """``n`` frames at C: each decodes to a readable stamp, later than the
        last, with a later timestamp."""
        for _ in range(n):
            frame = await asyncio.wait_for(self.c_track.recv(), 10)
            stamp = read_stamp(luma_view(frame))
            assert stamp is not None, "C decoded a corrupt picture"
            assert stamp > self.last_stamp and frame.pts > self.last_pts, (stamp, self.last_stamp, frame.pts, self.last_pts)
            self.last_stamp, self.last_pts = stamp, frame.pts

    async def close(self):
        self.frames.task.cancel()
        self.pump.stop()
        for pc in (self.a, self.b_in, self.b_out, self.c):
            await pc.close()


@pytest.fixture
async def chain():
    c = await Chain().start()
    yield c
    await c.close()


async def _forwarding(chain):
    await wait_until(lambda: chain.track.using_packets, 10, "the track to forward")
    await chain.receive(3)


async def test_forwards_from_a_keyframe_then_neither_decodes_nor_encodes(chain):
    await _forwarding(chain)
    decoded, encoded_, forwarded = chain.tap.decoded, chain.track.encoded, chain.track.forwarded
    await chain.receive(30)
    assert chain.tap.decoded == decoded and chain.track.encoded == encoded_, "B decoded or encoded while forwarding"
    # C's 30 frames were all forwarded by B, but a few of them may have left B
    # before the counts were read (in flight on the loopback hop)
    assert chain.track.forwarded >= forwarded + 30 - 5 and chain.feed.forwarded == chain.track.forwarded
    assert chain.track.switches == 1


async def test_pixels_wanted_switch_to_frames_then_back_at_a_keyframe(chain):
    await _forwarding(chain)
    chain.pixels, chain.verdict = True, HOLD  # a tap on B's frames
    await wait_until(lambda: not chain.track._packets, 10, "the switch to frames")
    forwarded, encoded_ = chain.track.forwarded, chain.track.encoded
    await chain.receive(20)  # the first frame encoded here is a keyframe: C decodes it
    # (C's first few may be packets that were on their way)
    assert chain.track.encoded >= encoded_ + 15 and chain.track.forwarded == forwarded
    assert chain.tap.decode
    requests = chain.a_keyframe_requests
    chain.pixels, chain.verdict = False, FORWARD  # the tap is gone
    await wait_until(lambda: chain.track.using_packets, 10, "the switch back to packets")
    assert chain.a_keyframe_requests > requests, "forwarding starts at a keyframe A was asked for"
    await chain.receive(20)
    assert not chain.tap.decode and chain.track.switches == 3


async def test_stop_cuts_the_packets_at_once(chain):
    await _forwarding(chain)
    chain.verdict = STOP  # e.g. the camera's frames changed size
    await wait_until(lambda: not chain.track.using_packets, 5, "the cut")
    forwarded = chain.track.forwarded
    await chain.receive(15)
    assert chain.track.forwarded == forwarded and not chain.track._packets


async def test_a_new_producer_keeps_time_going_forward(chain):
    await _forwarding(chain)
    chain.feed.detach(chain.tap)  # the producer went away (as when its connection closes) ...
    assert not chain.track.using_packets
    chain.tap.decode = True  # ... and frames to encode come from elsewhere
    await wait_until(lambda: not chain.track._packets, 5, "frames without a producer")
    await chain.receive(10)
    chain.feed.attach(chain.tap)  # ... and is back, with a clock of its own
    await wait_until(lambda: chain.track.using_packets, 10, "forwarding the producer again")
    await chain.receive(10)


async def test_keyframe_requests_reach_the_encoder_only_while_forwarding(chain):
    await _forwarding(chain)
    await asyncio.sleep(0.6)  # past the rate limit of the start-up request
    c_receiver = chain.c.getReceivers()[0]
    ssrc = chain.b_out.getSenders()[0]._ssrc
    before = chain.a_keyframe_requests
    for _ in range(5):  # a burst of requests ...
        await c_receiver._send_rtcp_pli(ssrc)
    await wait_until(lambda: chain.a_keyframe_requests > before, 5, "the keyframe request to reach A")
    await asyncio.sleep(0.2)
    assert chain.a_keyframe_requests - before == 1  # ... passes upstream once
    chain.pixels, chain.verdict = True, HOLD
    await wait_until(lambda: not chain.track._packets, 10, "the switch to frames")
    await chain.receive(5)
    await asyncio.sleep(0.6)
    before = chain.a_keyframe_requests
    await c_receiver._send_rtcp_pli(ssrc)  # B's own encoder answers it now
    await chain.receive(5)
    assert chain.a_keyframe_requests == before


async def test_forwarding_switched_off_encodes_every_frame(chain, monkeypatch):
    monkeypatch.setattr(encoded, "ENABLED", False)
    await chain.receive(20)
    assert chain.track.forwarded == 0 and chain.track.encoded >= 20 and chain.tap.decode


def test_rebaser_keeps_time_monotonic_across_clocks():
    r = PtsRebaser()
    a, b = object(), object()
    out = [r.map(a, 90_000), r.map(a, 93_000)]
    assert out == [0, 3000]
    out.append(r.map(b, 10))  # another clock, starting near 0
    out.append(r.map(b, 3010))
    out.append(r.map(a, 96_000))  # the first clock again
    out.append(r.map(a, 0))  # a clock that went back
    assert all(y > x for x, y in zip(out, out[1:], strict=False)), out
    assert out[3] - out[2] == 3000  # within a clock, its own spacing


def test_feed_decodes_while_pixels_are_wanted_or_nobody_forwards():
    class Consumer(EncodedConsumer):
        packets = False

        def push(self, frame):
            pass

        @property
        def using_packets(self):
            return self.packets

    wanted = {"pixels": False}
    feed = EncodedFeed(pixels_wanted=lambda: wanted["pixels"])
    consumer = Consumer()
    assert feed.decode_wanted()  # nobody forwards: as stock aiortc
    feed.subscribe(consumer)
    assert feed.decode_wanted()
    consumer.packets = True
    assert not feed.decode_wanted()
    wanted["pixels"] = True
    assert feed.decode_wanted()
    wanted["pixels"] = False
    feed.unsubscribe(consumer)
    assert feed.decode_wanted()
