"""The upstream video: a :class:`FramePump` paces a :class:`Source` at the
model's fps and turns its numpy frames into video frames; a :class:`PumpTrack`
hands them to one peer connection.

The pump lives as long as the session; each (re)connection gets a new track,
because aiortc stops a sender's track for good when its connection closes.
The source can be swapped without renegotiation (``replace_source``).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..common.stamp import read_stamp
from .convert import ndarray_to_frame, rgb_to_i420
from .output import luma_view
from .sources import Source

log = logging.getLogger(__name__)

__all__ = ["FramePump", "PumpTrack", "ndarray_to_frame", "VIDEO_CLOCK_RATE"]

VIDEO_CLOCK_RATE = 90_000
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
_STAMP_HISTORY = 1024
#: Seconds a live source may stay silent before its last frame is sent again.
LIVE_REPEAT_AFTER = 0.5


class FramePump:
    """Reads a :class:`Source` at a fixed frame rate, for one track at a time.

    Per tick: read the source, mirror if asked, run ``process`` (the session's
    transforms and input taps), note when a stamped frame left, convert.
    """

    def __init__(self, source: Source, width: int, height: int, fps: float) -> None:
        self._stopped = False
        self._width, self._height, self._fps = width, height, fps
        source.configure(width, height, fps)
        self._source = source
        self._start: float | None = None
        self._index = 0
        #: ``True``, ``False`` or ``"auto"`` (mirror sources that say they are selfie cameras).
        self.mirror_mode: bool | str = False
        #: Awaited with (rgb, index, t); returns the frame to send.
        self.process: Callable[[np.ndarray, int, float], Awaitable[np.ndarray]] | None = None
        #: Whether anything needs the RGB pixels of input frames (taps,
        #: transforms...); when not, a source's ready-made frames skip RGB.
        self.needs_pixels: Callable[[], bool] = lambda: True
        #: Frames handed to the encoder.
        self.frames_sent = 0
        #: Ticks where the sender was late by more than a frame and skipped ahead.
        self.ticks_skipped = 0
        self._sent_at: collections.deque[float] = collections.deque(maxlen=120)
        # stamp counter -> perf_counter() when that frame was handed out
        self._stamp_times: dict[int, float] = {}

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
        if self.mirror_mode == "auto":
            return bool(getattr(self._source, "mirror_default", False))
        return bool(self.mirror_mode)

    def replace_source(self, source: Source) -> Source:
        """Swap the source between two frames; returns the old one (not closed)."""
        source.configure(self._width, self._height, self._fps)
        old, self._source = self._source, source
        return old

    def sent_time(self, counter: int) -> float | None:
        """perf_counter() at which the frame stamped ``counter`` was sent."""
        return self._stamp_times.get(counter)

    def fps_sent(self, window: float = 2.0) -> float:
        now = time.perf_counter()
        recent = [t for t in self._sent_at if now - t <= window]
        if len(recent) < 2 or recent[-1] == recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def track(self) -> PumpTrack:
        """A new track for one peer connection."""
        return PumpTrack(self)

    async def next_frame(self) -> av.VideoFrame:
        frame, _ = await self._next(ndarray_to_frame)
        return frame

    async def next_i420(self) -> tuple[np.ndarray | av.VideoFrame, float]:
        """The next frame for a consumer that takes I420 (the LiveKit link):
        frames made from RGB as a packed ``(h * 3 / 2, w)`` array, without a
        PyAV frame in between; a source's ready-made frame as it is. With the
        frame's time in seconds since the stream started."""
        return await self._next(rgb_to_i420)

    async def _next(self, convert: Callable[[np.ndarray], Any]) -> tuple[Any, float]:
        if self._stopped:
            raise MediaStreamError
        now = time.perf_counter()
        wait_frame = getattr(self._source, "wait_frame", None)
        if self._start is None:
            self._start = now
        elif wait_frame is not None:
            # a live source (the browser camera): send each frame as it arrives,
            # at most fps a second; with none for a while, repeat the last one
            gap = 0.9 / self._fps - (now - self._sent_at[-1] if self._sent_at else 1.0)
            if gap > 0:
                await asyncio.sleep(gap)
            await wait_frame(LIVE_REPEAT_AFTER)
            now = time.perf_counter()
            self._index = max(self._index, int((now - self._start) * self._fps))
        else:
            due = self._start + self._index / self._fps
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 1.0 / self._fps:
                # late by more than a frame (busy machine, reconnect): skip ahead, no burst
                missed = int((now - due) * self._fps)
                self._index += missed
                self.ticks_skipped += missed
        index = self._index
        self._index += 1
        t = index / self._fps if wait_frame is None else now - self._start
        read_frame = getattr(self._source, "read_frame", None)
        if read_frame is not None and not self.mirror and not self.needs_pixels():
            ready = await read_frame(index, t)
            if ready is not None:
                luma = luma_view(ready)
                return self._sent(ready, read_stamp(luma) if luma is not None else None, t), t
        rgb = await self._source.read(index, t)
        if self.mirror:
            rgb = rgb[:, ::-1]
        if self.process is not None:
            rgb = await self.process(rgb, index, t)
        return self._sent(convert(rgb), read_stamp(rgb), t), t

    def _sent(self, frame: Any, counter: int | None, t: float) -> Any:
        sent = time.perf_counter()
        if counter is not None:
            if len(self._stamp_times) >= _STAMP_HISTORY:
                self._stamp_times.pop(next(iter(self._stamp_times)))
            self._stamp_times[counter] = sent
        if isinstance(frame, av.VideoFrame):
            frame.pts = int(round(t * VIDEO_CLOCK_RATE))
            frame.time_base = _TIME_BASE
        self.frames_sent += 1
        self._sent_at.append(sent)
        return frame

    def stop(self) -> None:
        self._stopped = True
        self._source.close()


class PumpTrack(MediaStreamTrack):
    """The video track of one peer connection, fed by the session's pump."""

    kind = "video"

    def __init__(self, pump: FramePump) -> None:
        super().__init__()
        self._pump = pump

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._pump.next_frame()
