"""The quality verdict of a session's statistics (the session computes the
rates themselves: decart_widgets/session/_stats.py).

The verdict bands are those of the official JS SDK: each metric is put in a
band and the session's verdict is the worst band; the metric that put it
there is the limiting factor.
"""

from __future__ import annotations

from typing import Any

__all__ = ["quality_verdict", "LEVELS"]

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
