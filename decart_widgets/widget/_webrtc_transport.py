"""The "webrtc" transport: one aiortc peer connection per browser view.

The browser offers one video section per stream it shows (``"output"``
first: its camera track as sendrecv video when it owns the camera, recvonly
otherwise; then ``"input"`` recvonly, for a view that shows it) over the
widget's comm in an ``rtc_offer`` request with its candidates inline; the
kernel attaches one :class:`BrowserViewTrack` per stream, in the offer's
order, and its reply carries the answer
``{sdp}`` with its candidates inline and Chromium's start/min/max bitrate
hints on VP8 (``common/rtc.py``), so the browser sends 1280x720 from the
start instead of downscaling. No STUN: the browser reaches the kernel
directly.

Everything here runs on the media loop. Received camera frames go to the
:class:`~decart_widgets.media.browser.BrowserCameraSource` (when the widget
has one) as decoded ``VideoFrame`` objects; each stream's frames go back
through a :class:`BrowserViewTrack` without converting them to RGB.
"""

from __future__ import annotations

import fractions
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from ..common.fanout import FanOut
from ..common.rtc import new_peer_connection, prefer_codec, set_vp8_bitrate_hints, track_frames
from ..common.slot import LatestSlot
from ..common.tasks import TaskSet
from ..media.browser import BrowserCameraSource

log = logging.getLogger(__name__)

__all__ = ["BrowserViewTrack", "BrowserPeer", "OutputSubscriber", "strip_candidates", "video_sections"]

_TIME_BASE = fractions.Fraction(1, 90_000)

#: Takes each model output frame: ``(frame, stamp or None)``.
OutputSubscriber = Callable[[Any, "int | None"], None]


class BrowserViewTrack(MediaStreamTrack):
    """The model's output frames on their way to one browser view, newest frame wins."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._slot: LatestSlot[Any] = LatestSlot()
        self._t0: float | None = None
        #: Frames handed to the encoder.
        self.frames = 0

    @property
    def skipped(self) -> int:
        """Frames replaced by a newer one before the encoder took them."""
        return self._slot.replaced

    def offer(self, frame: Any, counter: int | None) -> None:
        """An output subscriber (any thread): cheap, never blocks."""
        self._slot.put(frame)

    async def recv(self) -> Any:
        frame = await self._slot.take_async() if self.readyState == "live" else None
        if frame is None or self.readyState != "live":
            raise MediaStreamError
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
        self._slot.close()  # wakes a waiting recv(), which then raises


def strip_candidates(sdp: str) -> str:
    """The SDP without ICE candidates (test aid: WebRTC "blocked")."""
    lines = [ln for ln in sdp.splitlines() if not ln.startswith("a=candidate") and ln != "a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n"


def video_sections(sdp: str) -> int:
    """How many video sections (m-lines) an SDP has."""
    return sum(1 for ln in sdp.splitlines() if ln.startswith("m=video"))


class BrowserPeer:
    """The kernel end of one browser view's peer connection.

    :param streams: the streams the view shows (name -> frames), in the
        order of its offer's video sections; each gets a track.
    :param camera: where the view's camera frames go (None: a widget without a camera).
    """

    def __init__(
        self,
        view: str,
        streams: Mapping[str, FanOut[OutputSubscriber]],
        on_state: Callable[[BrowserPeer, str], None],
        *,
        camera: BrowserCameraSource | None = None,
        owns_camera: bool = False,
    ) -> None:
        if not streams:
            raise ValueError("a browser peer needs at least one stream to send")
        self.view = view
        self._source = camera
        self._on_state = on_state
        self._pc = new_peer_connection()
        #: (stream name, its frames, the track that sends them), in the offer's order.
        self._sends = [(name, frames, BrowserViewTrack()) for name, frames in streams.items()]
        self._tasks = TaskSet(f"browser peer {view}")
        self._closed = False
        #: True while this view is the one whose camera feeds the model.
        self.owns_camera = owns_camera
        #: Camera frames received from the browser (fed to the model only while it owns the camera).
        self.camera_frames = 0

        @self._pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and self._source is not None:
                self._tasks.spawn(self._consume(track), name=f"decart-browser-camera-{view}")

        @self._pc.on("connectionstatechange")
        def on_state_change() -> None:
            state = self._pc.connectionState
            self._on_state(self, state)

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    async def answer(self, offer_sdp: str, *, blocked: bool = False) -> str:
        """Apply the browser's offer; returns the answer SDP (candidates inline)."""
        sections = video_sections(offer_sdp)
        if sections < len(self._sends):
            raise ValueError(f"the offer has {sections} video sections for {len(self._sends)} streams")
        if blocked:
            offer_sdp = strip_candidates(offer_sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "video":
                prefer_codec(transceiver, "video/VP8")
        # addTrack fills the offer's video sections in order: stream i in section i
        for _name, frames, track in self._sends:
            self._pc.addTrack(track)
            frames.subscribe(track.offer)
        # the sender to the browser starts in here: pinned, fast VP8 encoder
        with vp8_bitrate(DEFAULT_UPSTREAM_BITRATE):
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        sdp = self._pc.localDescription.sdp
        sdp = set_vp8_bitrate_hints(sdp)
        return strip_candidates(sdp) if blocked else sdp

    async def _consume(self, track: MediaStreamTrack) -> None:
        source = self._source
        assert source is not None
        async for frame in track_frames(track):
            self.camera_frames += 1
            if self.owns_camera:
                source.push_frame(frame)

    def stats(self) -> dict[str, Any]:
        """Counters, named ``rtc_*`` for the output stream, ``rtc_<stream>_*`` for another."""
        out: dict[str, Any] = {}
        for name, _frames, track in self._sends:
            p = "rtc_" if name == "output" else f"rtc_{name}_"
            out[f"{p}frames_out"], out[f"{p}frames_skipped"] = track.frames, track.skipped
        if self._source is not None:
            out["rtc_camera_frames"] = self.camera_frames
        return out

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _name, frames, track in self._sends:
            frames.unsubscribe(track.offer)
            track.stop()
        await self._pc.close()
        await self._tasks.close(timeout=2)
