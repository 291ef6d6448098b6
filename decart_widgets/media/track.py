"""The upstream video: a :class:`FramePump` paces a :class:`Source` at the
model's fps and turns its numpy frames into video frames; a :class:`PumpTrack`
hands them to one peer connection.

The pump lives as long as the session; each (re)connection gets a new track,
because aiortc stops a sender's track for good when its connection closes.
The source can be swapped without renegotiation (``replace_source``).

A live source that has its frames encoded as they arrived (the browser
camera over WebRTC, :attr:`LiveSource.encoded`) is forwarded: while nothing
needs its pixels, nothing mirrors, the sender's codec is the camera's and
the camera's frames are the model's size, :class:`PumpTrack` sends the
camera's encoded frames as they are and the camera is not decoded at all
(``media/forwarding.py``).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from ..common.stamp import read_stamp
from ..common.yuv import rgb_to_i420
from .convert import frame_stamp, ndarray_to_frame
from .forwarding import FORWARD, HOLD, STOP, EncodedFeed, PtsRebaser, SwitchingTrack
from .meters import LatencyMeter, RateMeter
from .sources import LiveSource, Source

log = logging.getLogger(__name__)

__all__ = ["FramePump", "PumpTrack", "VIDEO_CLOCK_RATE", "Mirror"]

VIDEO_CLOCK_RATE = 90_000
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
#: Seconds a live source may stay silent before its last frame is sent again.
LIVE_REPEAT_AFTER = 0.5

#: ``True``, ``False`` or ``"auto"`` (mirror sources that say they are selfie cameras).
Mirror = bool | str
#: Awaited with (rgb, index, t); returns the frame to send (the session's
#: transforms and input taps: :meth:`FrameHub.process_input`).
Process = Callable[[np.ndarray, int, float], Awaitable[np.ndarray]]


class FramePump:
    """Reads a :class:`Source` at a fixed frame rate, for one track at a time.

    Per tick: read the source, mirror if asked, run ``process`` (the session's
    transforms and input taps), note when a stamped frame left, convert.
    This is the one place frames are mirrored.

    :param mirror: ``True``, ``False`` or ``"auto"`` (mirror the frames of a
        source whose ``mirror_default`` is true, asked frame by frame).
    :param process: where each RGB frame goes before it is sent.
    :param needs_pixels: whether anything needs the RGB pixels of input
        frames (taps, transforms...); while not, a live source's ready-made
        frames go to the encoder as they are.
    :param latency: notes when each stamped frame left (a meter of its own by default).
    """

    def __init__(
        self,
        source: Source,
        width: int,
        height: int,
        fps: float,
        *,
        mirror: Mirror = False,
        process: Process | None = None,
        needs_pixels: Callable[[], bool] | None = None,
        latency: LatencyMeter | None = None,
    ) -> None:
        self._stopped = False
        self._width, self._height, self._fps = width, height, fps
        source.configure(width, height, fps)
        self._source = source
        self._start: float | None = None
        self._index = 0
        self._mirror: Mirror = mirror
        self._process = process
        self._needs_pixels = needs_pixels if needs_pixels is not None else (lambda: True)
        self.latency = latency if latency is not None else LatencyMeter()
        #: Frames handed to the encoder.
        self.frames_sent = 0
        #: Ticks where the sender was late by more than a frame and skipped ahead.
        self.ticks_skipped = 0
        #: Frames of the source sent as they arrived encoded (counted in frames_sent too).
        self.frames_forwarded = 0
        #: One timestamp line for every track of the session (monotonic across reconnects).
        self.rebaser = PtsRebaser()
        #: Frames a second at most (the model's fps unless a
        #: :class:`~decart_widgets.media.pacing.RateGovernor` lowers it).
        #: Frames forwarded encoded are not paced by it (see :meth:`note_forwarded`).
        self.rate = float(fps)
        self._sent = RateMeter()
        self._last_sent: float | None = None
        self._track: PumpTrack | None = None

    @property
    def source(self) -> Source:
        return self._source

    @property
    def size(self) -> tuple[int, int]:
        return self._width, self._height

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def mirror(self) -> bool:
        """Whether the current frame is mirrored (``"auto"`` asks the source)."""
        if self._mirror == "auto":
            return bool(self._source.mirror_default)
        return bool(self._mirror)

    def needs_pixels(self) -> bool:
        """Whether the source's frames must be decoded here: something reads
        their pixels (taps, transforms...) or they are mirrored."""
        return self._needs_pixels() or self.mirror

    def encoded_feed(self) -> EncodedFeed | None:
        """The source's encoded frames, when it has them."""
        source = self._source
        return source.encoded if isinstance(source, LiveSource) else None

    def replace_source(self, source: Source) -> Source:
        """Swap the source between two frames; returns the old one (not closed)."""
        source.configure(self._width, self._height, self._fps)
        old, self._source = self._source, source
        if self._track is not None:
            self._track.set_feed(self.encoded_feed())
        return old

    def sent_time(self, counter: int) -> float | None:
        """perf_counter() at which the frame stamped ``counter`` was sent."""
        return self.latency.sent_time(counter)

    def fps_sent(self, window: float = 2.0) -> float:
        return self._sent.rate(window)

    def recent_fps_sent(self, window: float = 1.0) -> float:
        """Frames sent in the last ``window`` seconds, per second (a stall shows at once)."""
        return self._sent.recent_rate(window)

    def track(self) -> PumpTrack:
        """A new track for one peer connection (the previous one is done)."""
        self._track = PumpTrack(self)
        return self._track

    def note_forwarded(self) -> None:
        """One encoded frame of the source went out as it arrived."""
        self.frames_forwarded += 1
        self._tick(time.perf_counter())

    async def next_frame(self) -> av.VideoFrame:
        frame, _ = await self._next(ndarray_to_frame)
        return frame

    async def next_i420(self) -> tuple[np.ndarray | av.VideoFrame, float]:
        """The next frame for a consumer that takes I420 (the LiveKit link):
        frames made from RGB as a packed ``(h * 3 / 2, w)`` array, without a
        PyAV frame in between; a live source's ready-made frame as it is.
        With the frame's time in seconds since the stream started."""
        return await self._next(rgb_to_i420)

    async def _next(self, convert: Callable[[np.ndarray], Any]) -> tuple[Any, float]:
        if self._stopped:
            raise MediaStreamError
        source = self._source
        now = time.perf_counter()
        if self._start is None:
            self._start = start = now
        else:
            start = self._start
            if isinstance(source, LiveSource):
                await self._wait_live(source)
                now = time.perf_counter()
                self._index = max(self._index, int((now - start) * self._fps))
            else:
                await self._wait_tick(start, now)
        index = self._index
        self._index += 1
        t = now - start if isinstance(source, LiveSource) else index / self._fps
        if isinstance(source, LiveSource) and not self._needs_pixels():
            ready = await source.read_frame(index, t)
            if ready is not None and not self.mirror:
                return self._send(ready, frame_stamp(ready), t), t
        rgb = await source.read(index, t)
        if self.mirror:
            rgb = rgb[:, ::-1]
        if self._process is not None:
            rgb = await self._process(rgb, index, t)
        return self._send(convert(rgb), read_stamp(rgb), t), t

    async def _wait_tick(self, start: float, now: float) -> None:
        """A generated source: wait for the next tick of the fps clock (or,
        while the rate is lowered, for 1/rate after the last frame sent)."""
        if self.rate < self._fps and self._last_sent is not None:
            due = self._last_sent + 1.0 / self.rate
            if due > now:
                await asyncio.sleep(due - now)
            self._index = max(self._index, int((time.perf_counter() - start) * self._fps))
            return
        due = start + self._index / self._fps
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0 / self._fps:
            # late by more than a frame (busy machine, reconnect): skip ahead, no burst
            missed = int((now - due) * self._fps)
            self._index += missed
            self.ticks_skipped += missed

    async def _wait_live(self, source: LiveSource) -> None:
        """A live source: the next frame as it arrives, at most fps a second;
        with none for a while, the last one again."""
        since = time.perf_counter() - self._last_sent if self._last_sent is not None else 1.0
        gap = 0.9 / min(self._fps, self.rate) - since
        if gap > 0:
            await asyncio.sleep(gap)
        await source.wait_frame(LIVE_REPEAT_AFTER)

    def _send(self, frame: Any, counter: int | None, t: float) -> Any:
        sent = time.perf_counter()
        if counter is not None:
            self.latency.sent(counter, sent)
        if isinstance(frame, av.VideoFrame):
            frame.pts = int(round(t * VIDEO_CLOCK_RATE))
            frame.time_base = _TIME_BASE
        self._tick(sent)
        return frame

    def _tick(self, sent: float) -> None:
        self.frames_sent += 1
        self._sent.tick(sent)
        self._last_sent = sent

    def stop(self) -> None:
        self._stopped = True
        if self._track is not None:
            self._track.stop()
        self._source.close()


class PumpTrack(SwitchingTrack):
    """The video track of one peer connection, fed by the session's pump:
    its frames to encode, or the source's encoded frames as they arrived
    (call :meth:`bind` with the transceiver once it exists)."""

    def __init__(self, pump: FramePump) -> None:
        super().__init__(pump.next_frame, verdict=self._may_forward, rebaser=pump.rebaser)
        self._pump = pump
        self.set_feed(pump.encoded_feed())

    def _may_forward(self, frame: Any) -> str:
        pump = self._pump
        feed = self.feed
        if feed is None or feed is not pump.encoded_feed() or feed.size != pump.size:
            return STOP  # not the source's frames, or not the model's size
        return HOLD if pump.needs_pixels() else FORWARD

    def _sent_packet(self, frame: Any) -> None:
        self._pump.note_forwarded()

    def _leaving_packets(self) -> None:
        # decoded frames still held predate the packets that went out
        source = self._pump.source
        if isinstance(source, LiveSource):
            source.forget_frames()
