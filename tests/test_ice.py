"""ICE done when its check list is done (decart_widgets/common/ice.py), with two real aioice peers on loopback."""

from __future__ import annotations

import asyncio
import time

import aioice
import pytest

from decart_widgets.common import ice

pytestmark = pytest.mark.timeout(30)


async def _connect_both(pacing: float, monkeypatch: pytest.MonkeyPatch, *, enabled: bool = True) -> float:
    monkeypatch.setattr(ice, "PACING_S", pacing)
    monkeypatch.setattr(ice, "ENABLED", enabled)
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    a, b = aioice.Connection(ice_controlling=True), aioice.Connection(ice_controlling=False)
    try:
        await asyncio.gather(a.gather_candidates(), b.gather_candidates())
        for x, y in ((a, b), (b, a)):
            x.remote_username, x.remote_password = y.local_username, y.local_password
            for cand in y.local_candidates:
                await x.add_remote_candidate(cand)
            await x.add_remote_candidate(None)
        t0 = time.perf_counter()
        await asyncio.gather(a.connect(), b.connect())
        elapsed = time.perf_counter() - t0
        await a.send(b"ping")
        assert await asyncio.wait_for(b.recv(), 5) == b"ping"
        return elapsed
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_connect_ends_when_the_check_succeeds_not_at_the_next_tick(monkeypatch):
    # with a 1 s pacing tick, aioice's own loop would wait the whole second after the one check
    elapsed = await _connect_both(1.0, monkeypatch)
    assert elapsed < 0.5, elapsed


async def test_aioice_own_connect_waits_for_the_tick_when_switched_off(monkeypatch):
    # the control: aioice's own connect waits out its 20 ms tick after the one check (what the patch removes)
    elapsed = await _connect_both(1.0, monkeypatch, enabled=False)
    assert elapsed >= 0.02, elapsed


@pytest.mark.parametrize("pairs", ["one that fails", "none"])
async def test_a_check_list_that_fails_still_raises(pairs, monkeypatch):
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    a = aioice.Connection(ice_controlling=True)
    try:
        await a.gather_candidates()
        a.remote_username, a.remote_password = "user", "p" * 22
        if pairs == "one that fails":
            # a candidate nobody answers on; its check would retry for ~40 s before aioice reports
            # the failure, so the report is made here, while connect() waits between its checks
            await a.add_remote_candidate(aioice.Candidate(
                foundation="1", component=1, transport="udp", priority=1, host="127.0.0.1", port=9, type="host"))
            asyncio.get_running_loop().call_later(0.1, a._check_list_state.put_nowait, aioice.ice.ICE_FAILED)
        await a.add_remote_candidate(None)
        with pytest.raises(ConnectionError, match="ICE negotiation failed"):
            await asyncio.wait_for(a.connect(), 5)
    finally:
        await a.close()
