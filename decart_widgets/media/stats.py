"""Connection statistics and the quality verdict.

The verdict bands are those of the official JS SDK: each metric is put in a
band and the session's verdict is the worst band; the metric that put it
there is the limiting factor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["quality_verdict", "RtpCounters", "LEVELS"]

LEVELS = ("good", "fair", "poor", "critical")

# metric -> (good, fair, poor) thresholds and whether higher is better
_BANDS: dict[str, tuple[tuple[float, float, float], bool]] = {
    "rtt_ms": ((150, 300, 500), False),
    "fps": ((20, 12, 5), True),
    "packet_loss_pct": ((0.1, 1.0, 5.0), False),
    "ttff_s": ((4, 6, 10), False),
}


def _band(metric: str, value: float) -> int:
    (good, fair, poor), higher_better = _BANDS[metric]
    if higher_better:
        return 0 if value >= good else 1 if value >= fair else 2 if value >= poor else 3
    return 0 if value < good else 1 if value < fair else 2 if value < poor else 3


def quality_verdict(
    *,
    rtt_ms: float | None = None,
    fps: float | None = None,
    packet_loss_pct: float | None = None,
    ttff_s: float | None = None,
) -> dict[str, Any]:
    """``{"level": good|fair|poor|critical, "limiting": metric or None, "bands": {...}}``.

    Unknown metrics (None) are left out; with none known the level is ``good``.
    """
    values = {"rtt_ms": rtt_ms, "fps": fps, "packet_loss_pct": packet_loss_pct, "ttff_s": ttff_s}
    bands = {k: LEVELS[_band(k, v)] for k, v in values.items() if v is not None}
    worst = max((LEVELS.index(b) for b in bands.values()), default=0)
    limiting = next((k for k, b in bands.items() if LEVELS.index(b) == worst), None) if worst else None
    return {"level": LEVELS[worst], "limiting": limiting, "bands": bands}


@dataclass
class RtpCounters:
    """Turns aiortc's cumulative getStats() counters into rates."""

    _last: tuple[float, int, int] | None = None
    bitrate_up: float | None = None
    bitrate_down: float | None = None
    rtt_ms: float | None = None
    packet_loss_pct: float | None = None
    packets_lost: int = 0
    packets_received: int = 0

    def update(self, report: Any) -> None:
        sent = received = 0
        lost = got = 0
        rtt = None
        for stat in report.values():
            kind = getattr(stat, "type", "")
            if kind == "outbound-rtp" and getattr(stat, "kind", "video") == "video":
                sent += int(getattr(stat, "bytesSent", 0) or 0)
            elif kind == "transport":
                # aiortc's inbound-rtp has no byte count: use the transport's
                received += int(getattr(stat, "bytesReceived", 0) or 0)
            elif kind == "inbound-rtp" and getattr(stat, "kind", "video") == "video":
                lost += max(0, int(getattr(stat, "packetsLost", 0) or 0))
                got += int(getattr(stat, "packetsReceived", 0) or 0)
            elif kind == "remote-inbound-rtp":
                value = getattr(stat, "roundTripTime", None)
                if value is not None:
                    rtt = float(value) * 1000
        now = time.monotonic()
        if self._last is not None:
            t0, s0, r0 = self._last
            dt = now - t0
            if dt > 0:
                # a reconnect resets the counters: never report a negative rate
                self.bitrate_up = max(0.0, (sent - s0) * 8 / dt) if sent >= s0 else None
                self.bitrate_down = max(0.0, (received - r0) * 8 / dt) if received >= r0 else None
        self._last = (now, sent, received)
        if rtt is not None:
            self.rtt_ms = rtt
        self.packets_lost, self.packets_received = lost, got
        total = lost + got
        self.packet_loss_pct = (100.0 * lost / total) if total else None

    def reset(self) -> None:
        self._last = None
