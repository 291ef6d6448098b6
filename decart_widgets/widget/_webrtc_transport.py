"""The "webrtc" transport: one aiortc peer connection per browser view.

The browser offers (its camera track as sendrecv video when it owns the
camera, recvonly otherwise) over the widget's comm in an ``rtc_offer``
request with its candidates inline; the kernel's reply carries the answer
``{sdp}`` with its candidates inline and Chromium's start/min/max bitrate
hints on VP8 (``common/rtc.py``), so the browser sends 1280x720 from the
start instead of downscaling. No STUN: the browser reaches the kernel
directly.

Everything here runs on the media loop. The camera's encoded frames go to
the :class:`~decart_widgets.media.browser.BrowserCameraSource`'s feed (the
session forwards them to the model while nothing needs their pixels), and
its decoded frames, while it is decoded, to the source as ``VideoFrame``
objects. Model output goes back through :class:`BrowserViewTrack`: the
model server's encoded frames as they arrived while the session has them
(its aiortc link), decoded frames encoded here otherwise (the LiveKit link,
forwarding off), never converted to RGB.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from ..common.encoded import EncodedTap
from ..common.fanout import FanOut
from ..common.forwarding import EncodedFeed, SwitchingTrack
from ..common.rtc import new_peer_connection, prefer_codec, set_vp8_bitrate_hints, track_frames
from ..common.slot import LatestSlot
from ..common.tasks import TaskSet
from ..media.browser import BrowserCameraSource

log = logging.getLogger(__name__)

__all__ = ["BrowserViewTrack", "BrowserPeer", "strip_candidates"]

_TIME_BASE = fractions.Fraction(1, 90_000)

#: Takes each model output frame: ``(frame, stamp or None)``.
OutputSubscriber = Callable[[Any, "int | None"], None]


class BrowserViewTrack(SwitchingTrack):
    """The model's output on its way to one browser view: the model server's
    encoded frames as they arrived while the session has them
    (:meth:`set_feed`), else decoded frames, newest wins, encoded here.

    It takes decoded frames from the output fan-out only while it sends (or
    makes ready) frames, so a session whose views all forward decodes
    nothing.
    """

    def __init__(self, output: FanOut[OutputSubscriber]) -> None:
        self._output = output
        self._slot: LatestSlot[Any] = LatestSlot()
        super().__init__(self._next_decoded)

    @property
    def frames(self) -> int:
        """Frames handed to the encoder."""
        return self.encoded

    @property
    def skipped(self) -> int:
        """Frames replaced by a newer one before the encoder took them."""
        return self._slot.replaced

    def offer(self, frame: Any, counter: int | None) -> None:
        """An output subscriber (any thread): cheap, never blocks."""
        self._slot.put(frame)

    def _frames_wanted_changed(self, on: bool) -> None:
        if on:
            self._output.subscribe(self.offer)
        else:
            self._output.unsubscribe(self.offer)
            self._slot.clear()

    async def _next_decoded(self) -> av.VideoFrame:
        frame = await self._slot.take_async()
        if frame is None:
            raise MediaStreamError
        # a frame of our own: other views share the decoded one, and the
        # encoder sets its timestamp and picture type (on a worker thread)
        own = av.VideoFrame.from_numpy_buffer(frame.to_ndarray(format="yuv420p"), format="yuv420p")
        own.pts = round(time.monotonic() * 90_000)
        own.time_base = _TIME_BASE
        return own

    def stop(self) -> None:
        super().stop()
        self._slot.close()  # wakes a waiting recv(), which then raises


def strip_candidates(sdp: str) -> str:
    """The SDP without ICE candidates (test aid: WebRTC "blocked")."""
    lines = [ln for ln in sdp.splitlines() if not ln.startswith("a=candidate") and ln != "a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n"


class BrowserPeer:
    """The kernel end of one browser view's peer connection.

    :param output_feed: the session's encoded output (its aiortc link), or None.
    """

    def __init__(
        self,
        view: str,
        source: BrowserCameraSource,
        output: FanOut[OutputSubscriber],
        on_state: Callable[[BrowserPeer, str], None],
        *,
        owns_camera: bool,
        output_feed: EncodedFeed | None = None,
    ) -> None:
        self.view = view
        self._source = source
        self._loop = asyncio.get_running_loop()
        self._on_state = on_state
        self._pc = new_peer_connection()
        self._track = BrowserViewTrack(output)
        self._output_feed = output_feed
        self._camera_tap: EncodedTap | None = None
        self._tasks = TaskSet(f"browser peer {view}")
        self._closed = False
        self._owns_camera = owns_camera
        #: Camera frames decoded (fed to the model only while it owns the camera).
        self.camera_frames = 0

        @self._pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                receiver = _receiver_of(self._pc, track)
                if receiver is not None and self._camera_tap is None:
                    self._camera_tap = EncodedTap(receiver)
                    self._sync_camera()
                self._tasks.spawn(self._consume(track), name=f"decart-browser-camera-{view}")

        @self._pc.on("connectionstatechange")
        def on_state_change() -> None:
            state = self._pc.connectionState
            self._on_state(self, state)

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    @property
    def owns_camera(self) -> bool:
        """True while this view is the one whose camera feeds the model."""
        return self._owns_camera

    @owns_camera.setter
    def owns_camera(self, owns: bool) -> None:  # (any thread)
        self._owns_camera = owns
        self._loop.call_soon_threadsafe(self._sync_camera)

    def _sync_camera(self) -> None:
        """The camera's encoded frames feed the source while this view owns
        it; a camera nobody uses is not decoded."""
        tap = self._camera_tap
        if tap is None:
            return
        feed = self._source.encoded
        if self._owns_camera and not self._closed:
            feed.attach(tap)
        else:
            feed.detach(tap)
            tap.decode = False

    def set_output_feed(self, feed: EncodedFeed | None) -> None:
        """The session's encoded output to forward (None: no session, or no aiortc link)."""
        self._output_feed = feed
        self._track.set_feed(feed)

    async def answer(self, offer_sdp: str, *, blocked: bool = False) -> str:
        """Apply the browser's offer; returns the answer SDP (candidates inline)."""
        if blocked:
            offer_sdp = strip_candidates(offer_sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "video":
                prefer_codec(transceiver, "video/VP8")
        sender = self._pc.addTrack(self._track)
        self._track.bind(next(t for t in self._pc.getTransceivers() if t.sender is sender))
        self._track.set_feed(self._output_feed)
        # the sender to the browser starts in here: pinned, fast VP8 encoder
        with vp8_bitrate(DEFAULT_UPSTREAM_BITRATE):
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        sdp = self._pc.localDescription.sdp
        sdp = set_vp8_bitrate_hints(sdp)
        return strip_candidates(sdp) if blocked else sdp

    async def _consume(self, track: MediaStreamTrack) -> None:
        async for frame in track_frames(track):
            self.camera_frames += 1
            if self._owns_camera:
                self._source.push_frame(frame)

    def stats(self) -> dict[str, Any]:
        tap = self._camera_tap
        return {"rtc_frames_out": self._track.frames, "rtc_frames_skipped": self._track.skipped,
                "rtc_frames_forwarded": self._track.forwarded,
                "rtc_camera_frames": tap.frames if tap is not None else 0,
                "rtc_camera_decoded": self.camera_frames}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sync_camera()
        self._track.stop()
        await self._pc.close()
        await self._tasks.close(timeout=2)


def _receiver_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> RTCRtpReceiver | None:
    return next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
