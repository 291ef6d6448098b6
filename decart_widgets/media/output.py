"""The receiving end of a session: counts frames, measures latency from the
counter stamp, keeps the newest frame and wakes whoever waits for one.

Runs on the media loop for every received frame, so it does only cheap work:
the stamp is read from the luma plane without converting the frame.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

import av
import numpy as np

from ..common.stamp import read_stamp

__all__ = ["OutputSink", "luma_view"]


def luma_view(frame: av.VideoFrame) -> np.ndarray | None:
    """The Y plane of a yuv420p frame as a (height, width) view, no copy."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        return None
    plane = frame.planes[0]
    buf = np.frombuffer(memoryview(plane), np.uint8)
    return buf.reshape(frame.height, plane.line_size)[:, : frame.width]


class OutputSink:
    def __init__(self, sent_time: Callable[[int], float | None]) -> None:
        self._sent_time = sent_time
        self.frames_received = 0
        self.first_frame_at: float | None = None
        self.latest: av.VideoFrame | None = None
        self.latest_stamp: int | None = None
        #: Recent end-to-end latencies in seconds (stamped frames only).
        self.latencies: collections.deque[float] = collections.deque(maxlen=600)
        self._arrivals: collections.deque[float] = collections.deque(maxlen=120)
        self._waiters: list[asyncio.Future[av.VideoFrame]] = []
        self.listeners: list[Callable[[av.VideoFrame, int | None], None]] = []

    def push(self, frame: av.VideoFrame) -> None:
        now = time.perf_counter()
        self.frames_received += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self._arrivals.append(now)
        luma = luma_view(frame)
        counter = read_stamp(luma) if luma is not None else None
        self.latest_stamp = counter
        if counter is not None:
            sent = self._sent_time(counter)
            if sent is not None:
                self.latencies.append(now - sent)
        self.latest = frame
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(frame)
        for listener in self.listeners:
            listener(frame, counter)

    def next_frame(self) -> asyncio.Future[av.VideoFrame]:
        fut: asyncio.Future[av.VideoFrame] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def fps(self, window: float = 2.0) -> float:
        """Frames per second over the last ``window`` seconds."""
        now = time.perf_counter()
        recent = [t for t in self._arrivals if now - t <= window]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def latency_ms(self) -> float | None:
        if not self.latencies:
            return None
        return float(np.median(np.fromiter(self.latencies, float)) * 1000)
