"""The receiving end of a session: every model output frame passes here on
the media loop, is counted and timed (its stamp gives the end-to-end
latency), and goes on to the frame hub given to the constructor.

It does only cheap work: the stamp is read from the luma plane without
converting the frame. A link that sees encoded frames (the aiortc link)
counts each as it arrives (:meth:`OutputSink.arrived`) and hands on only
those it decodes (:meth:`OutputSink.decoded`): the output is decoded only
while something needs its pixels, and the counts and rates stay right.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import av

from .convert import frame_stamp
from .meters import LatencyMeter, RateMeter

__all__ = ["OutputSink", "OutputConsumer"]

#: Where each output frame goes next: ``(frame, stamp or None, index)``,
#: index being the count of frames received so far (1 for the first).
OutputConsumer = Callable[[av.VideoFrame, "int | None", int], None]


class OutputSink:
    def __init__(self, latency: LatencyMeter, on_frame: OutputConsumer | None = None) -> None:
        self._latency = latency
        self._on_frame = on_frame
        self.frames_received = 0
        #: Output frames decoded in this process (the rest were only counted, or forwarded).
        self.frames_decoded = 0
        #: perf_counter() when the first output frame arrived.
        self.first_frame_at: float | None = None
        self._arrivals = RateMeter()
        #: (timestamp, index) of frames arrived and not yet decoded (or never to be).
        self._indexes: collections.deque[tuple[int, int]] = collections.deque(maxlen=256)
        self._last_index = 0

    @property
    def latencies(self) -> collections.deque[float]:
        """Recent end-to-end latencies in seconds (stamped frames only)."""
        return self._latency.latencies

    def push(self, frame: av.VideoFrame) -> None:
        """A received frame, decoded: counted, timed, handed on."""
        self.arrived()
        self._hand_on(frame, self.frames_received)

    def arrived(self, timestamp: int | None = None) -> None:
        """A frame arrived (counted here, whether or not it is decoded);
        ``timestamp`` (its RTP time, the decoded frame's ``pts``) finds its
        index when it is decoded."""
        now = time.perf_counter()
        self.frames_received += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self._arrivals.tick(now)
        if timestamp is not None:
            self._indexes.append((timestamp, self.frames_received))

    def decoded(self, frame: av.VideoFrame) -> None:
        """A frame counted by :meth:`arrived`, decoded: timed by its stamp,
        handed on with the index it arrived with."""
        index = self._last_index + 1
        while self._indexes:
            timestamp, arrived_as = self._indexes.popleft()
            if timestamp == frame.pts:
                index = arrived_as
                break
        self._hand_on(frame, max(index, self._last_index + 1))

    def _hand_on(self, frame: av.VideoFrame, index: int) -> None:
        self.frames_decoded += 1
        self._last_index = index
        counter = frame_stamp(frame)
        if counter is not None:
            self._latency.received(counter, time.perf_counter())
        if self._on_frame is not None:
            self._on_frame(frame, counter, index)

    def fps(self, window: float = 2.0) -> float:
        """Frames per second over the last ``window`` seconds."""
        return self._arrivals.rate(window)

    def recent_fps(self, window: float = 1.0) -> float:
        """Frames received in the last ``window`` seconds, per second (a stall shows at once)."""
        return self._arrivals.recent_rate(window)

    def latency_ms(self) -> float | None:
        median = self._latency.median_s()
        return None if median is None else median * 1000
