"""A widget's ``stats`` trait: what it holds, and the loop that refreshes it.

Both widgets show the same stats line: the session's
(:meth:`~decart_widgets.session.RealtimeSession.stats`), the browser link's
(views, comm and WebRTC counters) and the transport in use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..session import RealtimeSession
from ._output_link import OutputLink

log = logging.getLogger(__name__)

__all__ = ["STATS_INTERVAL_S", "collect_stats", "every"]

#: Seconds between stats updates (and stale-view checks).
STATS_INTERVAL_S = 1.0


def collect_stats(session: RealtimeSession | None, link: OutputLink, transport: str | None) -> dict[str, Any]:
    """The ``stats`` trait's value now."""
    stats: dict[str, Any] = dict(session.stats()) if session is not None else {}
    stats.update(link.stats())
    stats["transport"] = transport
    return stats


async def every(interval: float, step: Callable[[], None], running: Callable[[], bool]) -> None:
    """Call ``step()`` every ``interval`` seconds while ``running()``; a
    failing step is logged (each kind of failure once as a warning) and the
    loop goes on."""
    failed: set[str] = set()
    while running():
        await asyncio.sleep(interval)
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - stats must never stop; each kind of failure said once
            kind = type(exc).__name__
            log.log(logging.DEBUG if kind in failed else logging.WARNING, "stats update failed", exc_info=True)
            failed.add(kind)
