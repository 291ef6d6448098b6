"""ICE that is done when its check list is done, not at the next 20 ms tick.

aioice starts one connectivity check every 20 ms (the Ta pacing of RFC 8445,
section 6.1.4.2) and looks at the outcome only once its loop has no check
left to start. With one candidate pair, as between two loopback peers, the
check succeeds within a millisecond and the connection still waits out the
tick: 20 ms of the 40 ms that a local connection takes, on both peers, before
DTLS can start (measured with the peers' state changes timed, one warm
connect: ICE from 15 to 35 ms). Here the pacing between two checks is kept,
but the wait ends as soon as the check list completes or fails.

Installed on import, like :mod:`.jitter`; where aioice's internals differ
from what this relies on (another aioice version), a connection falls back to
aioice's own ``connect``. ``ENABLED`` switches it off for A/B benchmarks.
"""

from __future__ import annotations

import asyncio

import aioice.ice

__all__ = ["ENABLED", "PACING_S"]

#: Module switch so a benchmark can compare both behaviours in one process.
ENABLED = True
#: Time between starting two checks (aioice's own pacing).
PACING_S = 0.02

_original_connect = aioice.ice.Connection.connect
# what _connect reads and calls on an aioice Connection
_NEEDED = (
    "_local_candidates_end", "_remote_candidates", "_pair_remote_candidate", "sort_check_list",
    "_unfreeze_initial", "_early_checks", "_early_checks_done", "check_incoming", "_check_periodic",
    "_check_list", "_check_list_state", "query_consent", "_query_consent_task",
)


async def _connect(self: aioice.ice.Connection) -> None:
    if not ENABLED or not all(hasattr(self, name) for name in _NEEDED):
        return await _original_connect(self)
    c = self
    if not c._local_candidates_end:
        raise ConnectionError("Local candidates gathering was not performed")
    if c.remote_username is None or c.remote_password is None:
        raise ConnectionError("Remote username or password is missing")
    for remote in c._remote_candidates:
        c._pair_remote_candidate(remote)
    c.sort_check_list()
    c._unfreeze_initial()
    for early in c._early_checks:  # checks the peer sent before we were ready
        c.check_incoming(*early)
    c._early_checks.clear()
    c._early_checks_done = True

    outcome: asyncio.Task[int] = asyncio.ensure_future(c._check_list_state.get())
    try:
        while c._check_periodic():
            done, _ = await asyncio.wait({outcome}, timeout=PACING_S)
            if done:
                break
        if not c._check_list and not outcome.done():
            result = aioice.ice.ICE_FAILED
        else:
            result = await outcome
    finally:
        outcome.cancel()
    for pair in c._check_list:
        if pair.task:
            pair.task.cancel()
    if result != aioice.ice.ICE_COMPLETED:
        raise ConnectionError("ICE negotiation failed")
    c._query_consent_task = asyncio.create_task(c.query_consent())


aioice.ice.Connection.connect = _connect  # type: ignore[method-assign]
