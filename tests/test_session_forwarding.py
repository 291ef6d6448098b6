"""A session fed encoded VP8 (a "browser" peer sending a stamped test pattern
to the widget's BrowserPeer, whose camera source the session reads) forwards
the camera's frames to the model without decoding or encoding them, decodes
them only while something reads their pixels, and decodes its output only
while something here needs it. Frames keep arriving decodable at the server
(the passthrough model sends back the stamps)."""

from __future__ import annotations

import asyncio

import pytest
from _leaks import client_pcs
from _waits import wait_until
from aiortc import RTCSessionDescription

from decart_widgets.common.bitrate import vp8_bitrate
from decart_widgets.common.fanout import FanOut
from decart_widgets.common.media_loop import media_loop
from decart_widgets.common.rtc import loopback_ice, new_peer_connection
from decart_widgets.common.stamp import read_stamp
from decart_widgets.media.browser import BrowserCameraSource
from decart_widgets.media.forwarding import EncodedConsumer
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump
from decart_widgets.models import ModelDefinition
from decart_widgets.session import RealtimeSession
from decart_widgets.widget._webrtc_transport import BrowserPeer

pytestmark = pytest.mark.timeout(90)

MODEL = ModelDefinition(name="forward-640x360", fps=30, width=640, height=360)


class Browser:
    """A camera encoding VP8 at the model's size, and the kernel's end of its
    peer connection (the widget's BrowserPeer), all on the media loop as in
    the widget."""

    async def start(self) -> Browser:
        self.camera = BrowserCameraSource()
        self.pump = FramePump(TestPatternSource(), MODEL.width, MODEL.height, MODEL.fps)
        self.pc = new_peer_connection()
        self.pc.addTransceiver(self.pump.track(), direction="sendrecv")
        self.peer = BrowserPeer("view-1", {"output": FanOut()}, lambda peer, state: None, camera=self.camera,
                                owns_camera=True)
        with loopback_ice(), vp8_bitrate(2_000_000):
            await self.pc.setLocalDescription(await self.pc.createOffer())
            answer = await self.peer.answer(self.pc.localDescription.sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        return self

    @property
    def tap(self):
        return self.peer._camera_tap

    async def close(self) -> None:
        await self.peer.close()
        await self.pc.close()
        self.pump.stop()


@pytest.fixture
async def session(background_server):
    media_loop.acquire()
    browser = await media_loop.run(Browser().start())
    s = await RealtimeSession.connect(MODEL, source=browser.camera, base_url=background_server.url, media="webrtc",
                                      reconnect_delays=(0.1, 0.2, 0.5))
    s.browser = browser
    try:
        yield s
    finally:
        s.disconnect()
        await media_loop.run(browser.close())
        media_loop.release()


def up(session) -> dict:
    track = session._sender.pump._track
    return {"forwarded": session.stats()["frames_forwarded_up"], "encoded": track.encoded,
            "decoded": session.browser.tap.decoded}


async def test_the_camera_is_forwarded_and_decoded_only_while_a_tap_reads_it(session):
    await wait_until(lambda: up(session)["forwarded"] > 10, 10, "camera frames forwarded")
    before = up(session)
    await wait_until(lambda: up(session)["forwarded"] > before["forwarded"] + 20, 10, "more camera frames forwarded")
    after = up(session)
    assert after["encoded"] == before["encoded"], "the session encoded camera frames it could forward"
    assert after["decoded"] == before["decoded"], "the camera was decoded with nothing reading it"
    # the model server decoded what was forwarded: the stamps come back
    assert read_stamp(await session.snapshot("output")) is not None

    seen: list[int | None] = []

    def input_tap(rgb, info):
        seen.append(read_stamp(rgb))

    session.on_frame(input_tap, "input")
    await wait_until(lambda: len(seen) > 10, 10, "input frames at the tap")
    assert sum(s is not None for s in seen) >= 10  # decoded camera pictures, not "waiting for camera"
    during = up(session)
    await wait_until(lambda: up(session)["encoded"] > during["encoded"] + 15, 10, "frames encoded for the tap")
    assert up(session)["forwarded"] <= during["forwarded"] + 1 and up(session)["decoded"] > during["decoded"]
    assert read_stamp(await session.snapshot("output")) is not None

    session.off_frame(input_tap)
    await wait_until(lambda: up(session)["forwarded"] > during["forwarded"] + 15, 10, "forwarding again without the tap")
    again = up(session)
    await wait_until(lambda: up(session)["forwarded"] > again["forwarded"] + 15, 10, "more forwarding")
    assert up(session)["decoded"] == again["decoded"] and up(session)["encoded"] == again["encoded"]
    assert read_stamp(await session.snapshot("output")) is not None


class Forwarder(EncodedConsumer):
    """Stands in for a WebRTC view that forwards the output."""

    def __init__(self) -> None:
        self.frames = 0

    def push(self, frame) -> None:
        self.frames += 1

    @property
    def using_packets(self) -> bool:
        return True


async def test_the_output_is_decoded_only_while_something_needs_its_pixels(session):
    feed = session.encoded_output
    forwarder = Forwarder()

    def out() -> dict:
        s = session.stats()
        return {"received": s["frames_received"], "decoded": s["frames_decoded_out"]}

    await wait_until(lambda: out()["decoded"] > 5, 10, "output frames")  # nothing forwards: decoded, as before
    await media_loop.run(_on_loop(feed.subscribe, forwarder))
    await asyncio.sleep(0.3)
    before = out()
    await wait_until(lambda: out()["received"] > before["received"] + 20, 10, "output frames arriving")
    assert out()["decoded"] == before["decoded"], "the output was decoded with nothing reading it"
    assert forwarder.frames >= 20 and session.stats()["fps_out"] > 5  # counted as they arrive
    # a tap needs pixels: decoding resumes (at a keyframe) and stops with the tap
    stamps: list[int | None] = []

    def tap(rgb, info):
        stamps.append(read_stamp(rgb))

    session.on_frame(tap, "output")
    await wait_until(lambda: len(stamps) > 10, 10, "output frames at the tap")
    assert all(s is not None for s in stamps), "a decoded output frame was corrupt"
    session.off_frame(tap)
    await asyncio.sleep(0.3)
    stopped = out()
    await wait_until(lambda: out()["received"] > stopped["received"] + 20, 10, "output frames arriving")
    assert out()["decoded"] == stopped["decoded"]
    await media_loop.run(_on_loop(feed.unsubscribe, forwarder))


async def test_forwarding_resumes_after_a_reconnect_with_time_going_forward(session, background_server):
    pump = session._sender.pump
    sent: list[int] = []
    original = pump.rebaser.map

    def map_(clock, pts):
        sent.append(original(clock, pts))
        return sent[-1]

    pump.rebaser.map = map_  # the timestamps every upstream track hands its sender
    await wait_until(lambda: up(session)["forwarded"] > 10, 10, "camera frames forwarded")
    old_track = pump._track
    background_server.drop_streams()
    await wait_until(lambda: session.reconnects == 1 and session.connection_state == "generating", 20, "a reconnect")
    assert pump._track is not old_track and old_track.readyState == "ended"
    forwarded = up(session)["forwarded"]
    await wait_until(lambda: up(session)["forwarded"] > forwarded + 20, 10, "forwarding on the new connection")
    assert pump._track.forwarded > 0
    assert read_stamp(await session.snapshot("output")) is not None
    assert all(b > a for a, b in zip(sent, sent[1:], strict=False)), "a timestamp went back"


async def test_disconnect_leaves_no_forwarding_behind(session):
    await wait_until(lambda: up(session)["forwarded"] > 5, 10, "camera frames forwarded")
    track = session._sender.pump._track
    session.disconnect()
    assert track.readyState == "ended" and track.feed is None
    assert session.encoded_output.tap is None and not session.encoded_output._consumers
    assert not session.browser.camera.encoded._consumers  # the camera's feed: no session left on it
    await media_loop.run(session.browser.close())
    assert not client_pcs()


async def _on_loop(fn, *args) -> None:
    fn(*args)
