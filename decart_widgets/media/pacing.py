"""The upstream frame rate under pressure: send no more than comes back.

Several sessions on two cores (or a model slower than the camera) cannot
return every frame they are sent. Frames sent anyway still cost an encode
here, a decode and a model call at the server, and packets on both
machines' loops; the excess piles up in socket buffers and decoder queues
and comes back as seconds of latency and stalls. :class:`RateGovernor`
watches what is sent and what comes back and lowers the pump's rate toward
the return rate (multiplicative decrease), then raises it again by a little
each step while everything sent comes back (additive increase), so frames
are dropped before they are encoded and sessions that share a CPU settle at
a fair share each. It never judges before output has started, and a model
that returns every frame is never slowed.
"""

from __future__ import annotations

__all__ = ["RateGovernor"]


class RateGovernor:
    """:param max_fps: the model's rate, the ceiling.
    :param min_fps: the floor: video stays video (and probes for recovery).
    :param step_fps: increase per observation while output keeps up."""

    #: Output below this share of what was sent counts as falling behind.
    KEEPING_UP = 0.8
    #: A decrease aims this far above the return rate, to probe for more.
    HEADROOM = 1.15

    def __init__(self, max_fps: float, *, min_fps: float = 5.0, step_fps: float = 2.0) -> None:
        if max_fps <= 0:
            raise ValueError(f"max_fps must be positive, got {max_fps!r}")
        self.max_fps = float(max_fps)
        self.min_fps = min(float(min_fps), self.max_fps)
        self.step_fps = float(step_fps)
        self.rate = self.max_fps
        #: Observations that lowered the rate.
        self.decreases = 0

    def observe(self, sent_fps: float, received_fps: float, *, output_started: bool) -> float:
        """One step with the rates of the last window; returns the new rate."""
        if not output_started or sent_fps <= 0:
            return self.rate  # nothing to judge yet (connecting, paused source)
        if received_fps < self.KEEPING_UP * sent_fps:
            target = received_fps * self.HEADROOM if received_fps > 0 else self.rate / 2
            if target < self.rate:
                self.rate = max(self.min_fps, target)
                self.decreases += 1
        else:
            self.rate = min(self.max_fps, self.rate + self.step_fps)
        return self.rate

    def reset(self) -> None:
        """Back to full rate (a new connection starts unjudged)."""
        self.rate = self.max_fps
