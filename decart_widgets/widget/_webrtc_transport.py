"""The "webrtc" transport: one aiortc peer connection per browser view.

The browser offers (its camera track as sendrecv video when it owns the
camera, recvonly otherwise) over the widget's comm as ``{"type":
"rtc_offer", "id", "view", "sdp"}`` with its candidates inline; the kernel
answers ``{"type": "rtc_answer", "id", "sdp"}`` (or ``rtc_error``) with its
candidates inline and Chromium's start/min/max bitrate hints on VP8, so the
browser sends 1280x720 from the start instead of downscaling. No STUN: the
browser reaches the kernel directly.

Everything here runs on the media loop. Received camera frames go to the
:class:`~decart_widgets.media.browser.BrowserCameraSource` as decoded
``VideoFrame`` objects; model output frames go back through
:class:`OutputTrack` without converting them to RGB.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from ..common.rtc import new_peer_connection, prefer_codec, set_vp8_bitrate_hints
from ..media.browser import BrowserCameraSource

log = logging.getLogger(__name__)

__all__ = ["OutputTrack", "BrowserPeer", "strip_candidates"]

_TIME_BASE = fractions.Fraction(1, 90_000)
#: Bitrate hints for what the browser sends (its camera), in kbps.
START_KBPS, MIN_KBPS, MAX_KBPS = 2500, 1000, 6000


class OutputTrack(MediaStreamTrack):
    """The model's output frames for one browser view, newest frame wins."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frame: Any = None
        self._event = asyncio.Event()
        self._t0: float | None = None
        self.frames = 0
        self.skipped = 0

    def offer(self, frame: Any, counter: int | None) -> None:
        """Hub listener (media loop)."""
        if self._frame is not None:
            self.skipped += 1
        self._frame = frame
        self._event.set()

    async def recv(self) -> Any:
        while self._frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._event.clear()
            await self._event.wait()
        if self.readyState != "live":
            raise MediaStreamError
        frame, self._frame = self._frame, None
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        # pts on the track's own clock (several views may share a frame
        # object; their clocks are within a frame of each other)
        out = frame
        out.pts = int((now - self._t0) * 90_000)
        out.time_base = _TIME_BASE
        self.frames += 1
        return out

    def stop(self) -> None:
        super().stop()
        self._event.set()


def strip_candidates(sdp: str) -> str:
    """The SDP without ICE candidates (test aid: WebRTC "blocked")."""
    lines = [ln for ln in sdp.splitlines() if not ln.startswith("a=candidate") and ln != "a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n"


class BrowserPeer:
    """The kernel end of one browser view's peer connection."""

    def __init__(
        self,
        view: str,
        source: BrowserCameraSource,
        subscribe: Callable[[Callable[[Any, int | None], None]], None],
        unsubscribe: Callable[[Callable[[Any, int | None], None]], None],
        on_state: Callable[[BrowserPeer, str], None],
    ) -> None:
        self.view = view
        self._source = source
        self._subscribe, self._unsubscribe = subscribe, unsubscribe
        self._on_state = on_state
        self._pc = new_peer_connection()
        self._track = OutputTrack()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        #: True while this view is the one whose camera feeds the model.
        self.camera = False
        self.camera_frames = 0

        @self._pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._spawn(self._consume(track))

        @self._pc.on("connectionstatechange")
        def on_state_change() -> None:
            state = self._pc.connectionState
            self._on_state(self, state)

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, offer_sdp: str, *, blocked: bool = False) -> str:
        """Apply the browser's offer; returns the answer SDP (candidates inline)."""
        if blocked:
            offer_sdp = strip_candidates(offer_sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "video":
                prefer_codec(transceiver, "video/VP8")
        self._pc.addTrack(self._track)
        self._subscribe(self._track.offer)
        # the sender to the browser starts in here: pinned, fast VP8 encoder
        with vp8_bitrate(DEFAULT_UPSTREAM_BITRATE):
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        sdp = self._pc.localDescription.sdp
        sdp = set_vp8_bitrate_hints(sdp, start_kbps=START_KBPS, min_kbps=MIN_KBPS, max_kbps=MAX_KBPS)
        return strip_candidates(sdp) if blocked else sdp

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.camera_frames += 1
            if self.camera:
                self._source.push_frame(frame)

    def stats(self) -> dict[str, Any]:
        return {"rtc_frames_out": self._track.frames, "rtc_frames_skipped": self._track.skipped,
                "rtc_camera_frames": self.camera_frames}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unsubscribe(self._track.offer)
        self._track.stop()
        await self._pc.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
