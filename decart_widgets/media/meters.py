"""What a session measures of its frames: rates and end-to-end latency.

:class:`LatencyMeter` uses the counter stamp: when each stamped frame left,
and how long the model's output of it took to come back. One meter per
session, shared by the three places that need it: the pump notes when a
stamped frame is handed to the encoder, the output sink notes when a frame
with that stamp comes back, and the frame hub reads the median to pair an
unstamped output with the input sent one latency earlier.

:class:`RateMeter` counts events (frames sent, frames received) over a
sliding window.
"""

from __future__ import annotations

import collections
import time

import numpy as np

__all__ = ["LatencyMeter", "RateMeter"]

#: Stamps remembered while their frames are in flight.
_SENT_HISTORY = 1024
#: Latencies kept for the median and percentiles (20 s at 30 fps).
_KEPT = 600


class RateMeter:
    """Events per second over a recent window."""

    def __init__(self, keep: int = 120) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=keep)

    def tick(self, at: float | None = None) -> None:
        self._times.append(time.perf_counter() if at is None else at)

    def recent_rate(self, window: float = 1.0) -> float:
        """Events in the last ``window`` seconds, per second: unlike :meth:`rate`,
        a stall reads as a low rate at once."""
        now = time.perf_counter()
        return sum(1 for t in self._times if now - t <= window) / window

    def rate(self, window: float = 2.0) -> float:
        """Events per second over the last ``window`` seconds (0 with fewer than two)."""
        now = time.perf_counter()
        recent = [t for t in self._times if now - t <= window]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0


class LatencyMeter:
    def __init__(self) -> None:
        # stamp counter -> perf_counter() when that frame was handed to the encoder
        self._sent: dict[int, float] = {}
        #: Recent end-to-end latencies in seconds (stamped frames only), oldest first.
        self.latencies: collections.deque[float] = collections.deque(maxlen=_KEPT)

    def sent(self, counter: int, at: float | None = None) -> None:
        """The frame stamped ``counter`` left at perf_counter() ``at`` (default now)."""
        if len(self._sent) >= _SENT_HISTORY:
            self._sent.pop(next(iter(self._sent)))
        self._sent[counter] = time.perf_counter() if at is None else at

    def sent_time(self, counter: int) -> float | None:
        """perf_counter() at which the frame stamped ``counter`` left, if known."""
        return self._sent.get(counter)

    def received(self, counter: int, at: float | None = None) -> float | None:
        """An output stamped ``counter`` arrived; returns its latency in seconds, if known."""
        sent = self._sent.get(counter)
        if sent is None:
            return None
        latency = (time.perf_counter() if at is None else at) - sent
        self.latencies.append(latency)
        return latency

    def median_s(self) -> float | None:
        if not self.latencies:
            return None
        return float(np.median(np.fromiter(self.latencies, float)))
