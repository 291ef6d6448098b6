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

Everything here runs on the media loop. A view's camera (DecartLive's
primary view) sends its encoded frames to the
:class:`~decart_widgets.media.browser.BrowserCameraSource`'s feed (the
session forwards them to the model while nothing needs their pixels), and
its decoded frames, while it is decoded, to the source as ``VideoFrame``
objects. Each stream goes back through a :class:`BrowserViewTrack`: the
``"output"`` stream forwards the model server's encoded frames as they
arrived while the session has them (its aiortc link) and encodes decoded
frames otherwise (the LiveKit link, forwarding off); the ``"input"`` stream
(the frames the model is sent, as RGB at the session's input taps) is
always encoded here. Nothing is converted to RGB on the way out.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from ..common.fanout import FanOut
from ..common.rtc import new_peer_connection, prefer_codec, set_vp8_bitrate_hints, track_frames
from ..common.slot import LatestSlot
from ..common.tasks import TaskSet
from ..media.browser import BrowserCameraSource
from ..media.encoded import EncodedTap
from ..media.forwarding import EncodedFeed, SwitchingTrack

log = logging.getLogger(__name__)

__all__ = ["BrowserViewTrack", "BrowserPeer", "OutputSubscriber", "strip_candidates", "video_sections"]

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


def video_sections(sdp: str) -> int:
    """How many video sections (m-lines) an SDP has."""
    return sum(1 for ln in sdp.splitlines() if ln.startswith("m=video"))


class BrowserPeer:
    """The kernel end of one browser view's peer connection.

    :param streams: the streams the view shows (name -> frames), in the
        order of its offer's video sections; each gets a track.
    :param camera: where the view's camera frames go (None: a widget without a camera).
    :param output_feed: the session's encoded output (its aiortc link), or
        None: the ``"output"`` stream's track forwards it while it can.
    """

    def __init__(
        self,
        view: str,
        streams: Mapping[str, FanOut[OutputSubscriber]],
        on_state: Callable[[BrowserPeer, str], None],
        *,
        camera: BrowserCameraSource | None = None,
        owns_camera: bool = False,
        output_feed: EncodedFeed | None = None,
    ) -> None:
        if not streams:
            raise ValueError("a browser peer needs at least one stream to send")
        self.view = view
        self._source = camera
        self._loop = asyncio.get_running_loop()
        self._on_state = on_state
        self._pc = new_peer_connection()
        #: (stream name, the track that sends its frames), in the offer's order.
        self._sends = [(name, BrowserViewTrack(frames)) for name, frames in streams.items()]
        self._output_feed = output_feed
        self._camera_tap: EncodedTap | None = None
        self._tasks = TaskSet(f"browser peer {view}")
        self._closed = False
        self._owns_camera = owns_camera
        #: Camera frames decoded (fed to the model only while it owns the camera).
        self.camera_frames = 0

        @self._pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and self._source is not None:
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
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._sync_camera)

    def _sync_camera(self) -> None:
        """The camera's encoded frames feed the source while this view owns
        it; a camera nobody uses is not decoded."""
        tap, source = self._camera_tap, self._source
        if tap is None or source is None:
            return
        feed = source.encoded
        if self._owns_camera and not self._closed:
            feed.attach(tap)
        else:
            feed.detach(tap)
            tap.decode = False

    def _output_track(self) -> BrowserViewTrack | None:
        return next((track for name, track in self._sends if name == "output"), None)

    def set_output_feed(self, feed: EncodedFeed | None) -> None:
        """The session's encoded output to forward (None: no session, or no
        aiortc link). Only the ``"output"`` stream forwards: the input frames
        are the session's pump's, never encoded ones. On the media loop."""
        self._output_feed = feed
        track = self._output_track()
        if track is not None:
            track.set_feed(feed)

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
        # addTrack fills the offer's video sections in order: stream i in
        # section i; each track takes its stream's frames once it sends them
        for _name, track in self._sends:
            sender = self._pc.addTrack(track)
            track.bind(next(t for t in self._pc.getTransceivers() if t.sender is sender))
        self.set_output_feed(self._output_feed)
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
            if self._owns_camera:
                source.push_frame(frame)

    def stats(self) -> dict[str, Any]:
        """Counters, named ``rtc_*`` for the output stream, ``rtc_<stream>_*`` for another."""
        out: dict[str, Any] = {}
        for name, track in self._sends:
            p = "rtc_" if name == "output" else f"rtc_{name}_"
            out[f"{p}frames_out"], out[f"{p}frames_skipped"] = track.frames, track.skipped
            if name == "output":
                out["rtc_frames_forwarded"] = track.forwarded
        if self._source is not None:
            tap = self._camera_tap
            out["rtc_camera_frames"] = tap.frames if tap is not None else 0
            out["rtc_camera_decoded"] = self.camera_frames
        return out

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sync_camera()
        for _name, track in self._sends:
            track.stop()  # it stops taking its stream's frames
        await self._pc.close()
        await self._tasks.close(timeout=2)


def _receiver_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> RTCRtpReceiver | None:
    return next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
