"""Faults a session meets in the field, over both media links, against the
local server's fault injection: a queue before the room, media that never
connects (UDP blocked), output that freezes while the socket stays up,
disconnect() while connect() still runs, the room closed by the server, and
generation ended by the server."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest
from _leaks import client_pcs, livekit_leftovers, media_loop_running, session_threads, thread_names
from _waits import wait_until

from decart_widgets.errors import IceError, ServerError
from decart_widgets.session import RealtimeSession

FAST_RETRY = (0.2, 0.2, 0.2, 0.2, 0.2)


#: A LiveKit room connect whose ICE never answers cannot be stopped from Python:
#: it ends by itself after the rtc client's 15 s ICE wait (the server has ended
#: the room by then, so its retries fail at once); the media loop lives on
#: until it has.
NATIVE_ICE_WAIT = 15 + 15


async def assert_nothing_left(server, threads_before, *, within=10.0):
    await wait_until(lambda: not server.streams and not server.rooms, 15, "the server to see the session end")
    await wait_until(lambda: not media_loop_running(), within, "the media loop to stop")
    assert not session_threads(threads_before), "session threads left running"
    assert not client_pcs() and not livekit_leftovers()


async def test_queue_positions_reach_handlers_while_connecting(media, background_server):
    background_server.faults.queue_positions = 3
    background_server.faults.queue_step_ms = 100
    seen: list[tuple[int, int, str]] = []
    holder: dict = {}

    def on_queue(position, size):
        seen.append((position, size, holder.get("state", "connecting")))

    session = await RealtimeSession.connect(media=media, base_url=background_server.url, handlers={"queue": on_queue})
    try:
        holder["state"] = session.connection_state
        # positions counting down, delivered while connect() still ran
        assert seen == [(3, 3, "connecting"), (2, 3, "connecting"), (1, 3, "connecting")]
        assert session.queue_position == (1, 3)
        await session.snapshot()
    finally:
        session.disconnect()


async def test_a_queue_longer_than_the_room_info_wait_restarts_it(livekit, background_server, monkeypatch):
    """Each queue_position restarts the 15 s wait for livekit_room_info (as the
    JS SDK does, and unlike Python SDK 0.2.4): with the wait cut to 1 s, a
    1.6 s queue in 0.4 s steps gets through; one silent 1.6 s step does not."""
    from decart_widgets.errors import DecartTimeoutError
    from decart_widgets.session import _args
    from decart_widgets.session._types import Timeouts

    monkeypatch.setattr(_args, "Timeouts", functools.partial(Timeouts, room_info=1.0))
    server = background_server
    server.faults.queue_positions, server.faults.queue_step_ms = 4, 400
    session = await RealtimeSession.connect(media="livekit", base_url=server.url)
    session.disconnect()
    server.faults.queue_positions, server.faults.queue_step_ms = 1, 1600
    with pytest.raises(DecartTimeoutError) as info:
        await RealtimeSession.connect(media="livekit", base_url=server.url)
    assert info.value.phase == "room_info"


async def test_media_that_never_connects_is_an_ice_error_within_the_connect_timeout(media, background_server):
    threads_before = thread_names()
    background_server.faults.block_media = True
    t0 = time.monotonic()
    with pytest.raises(IceError, match="UDP") as info:
        await RealtimeSession.connect(media=media, base_url=background_server.url, connect_timeout=3)
    elapsed = time.monotonic() - t0
    assert info.value.code == "WEBRTC_ICE_ERROR"
    del info  # its traceback's frames would keep the half-open room object alive
    assert elapsed < 3 + 5, elapsed  # the timeout, plus closing what the attempt opened
    background_server.faults.block_media = False
    await assert_nothing_left(background_server, threads_before, within=NATIVE_ICE_WAIT)


async def test_media_blocked_mid_session_reconnects_once_it_clears(media, background_server):
    server = background_server
    session = await RealtimeSession.connect(media=media, base_url=server.url, connect_timeout=2,
                                            reconnect_delays=FAST_RETRY)
    try:
        errors = []
        session.on("error", errors.append)
        await session.snapshot()
        before = server.connections_total
        server.faults.block_media = True
        server.drop_streams()
        # the first retries fail (their media never connects) ...
        await wait_until(lambda: server.connections_total >= before + 2, 15, "a second reconnect attempt")
        assert session.connection_state == "reconnecting"
        server.faults.block_media = False
        # ... and a later one succeeds
        await wait_until(lambda: session.connection_state == "generating", 20, "generating again")
        n = session.stats()["frames_received"]
        await wait_until(lambda: session.stats()["frames_received"] > n + 10, 10, "frames after the reconnect")
        assert session.reconnects == 1 and not errors
    finally:
        server.faults.block_media = False
        session.disconnect()


async def test_frozen_output_is_detected_within_3_s_and_reconnected(media, background_server):
    server = background_server
    server.faults.freeze_output_after_seconds = 1.0
    arrivals: list[float] = []
    states: list[tuple[str, float]] = []
    session = await RealtimeSession.connect(media=media, base_url=server.url, reconnect_delays=FAST_RETRY)
    try:
        session.on_frame(lambda frame, info: arrivals.append(time.monotonic()))
        session.on("connection_change", lambda s: states.append((s, time.monotonic())))
        await wait_until(lambda: any(s == "reconnecting" for s, _ in states), 10, "the freeze to be noticed")
        server.faults.freeze_output_after_seconds = None  # the next stream is healthy
        noticed = next(t for s, t in states if s == "reconnecting")
        last_frame = max(t for t in arrivals if t < noticed)
        assert noticed - last_frame <= 3.0, noticed - last_frame
        await wait_until(lambda: session.connection_state == "generating", 10, "generating again")
        n = len(arrivals)
        await wait_until(lambda: len(arrivals) > n + 10, 10, "frames after the reconnect")
        assert session.reconnects == 1
    finally:
        server.faults.freeze_output_after_seconds = None
        session.disconnect()


async def test_disconnect_while_connecting_returns_cleanly(media, background_server):
    """Cancelling connect() (a notebook's interrupt, a widget closed while it
    connects) ends everything the half-open session holds."""
    server = background_server
    threads_before = thread_names()
    server.faults.queue_positions = 50
    server.faults.queue_step_ms = 200
    mark = server.mark_events()
    task = asyncio.ensure_future(RealtimeSession.connect(media=media, base_url=server.url))
    await server.wait_for_event(lambda e: e["type"] == "queued", since=mark)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 5
    server.faults.queue_positions = 0
    await assert_nothing_left(server, threads_before)


async def test_disconnect_while_the_media_connects_returns_cleanly(media, background_server):
    """The hardest moment: the media link half-open (its ICE never answers)."""
    server = background_server
    threads_before = thread_names()
    server.faults.block_media = True
    task = asyncio.ensure_future(RealtimeSession.connect(media=media, base_url=server.url))
    mark = server.mark_events()
    await server.wait_for_event(lambda e: e["type"] == "generation", since=mark)
    await asyncio.sleep(0.5)  # into the media negotiation
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 5
    server.faults.block_media = False
    await assert_nothing_left(server, threads_before, within=NATIVE_ICE_WAIT)


async def test_room_closed_by_the_server_reconnects_with_a_fresh_join(livekit, background_server):
    server = background_server
    session = await RealtimeSession.connect(media="livekit", base_url=server.url, reconnect_delays=FAST_RETRY,
                                            initial_state={"prompt": "sepia"})
    try:
        await session.set_prompt("thermal camera")
        room = server.rooms[0]
        before = server.connections_total
        mark = server.mark_events()
        assert server.close_rooms() == 1
        await wait_until(lambda: session.reconnects == 1, 15, "a reconnect")
        await wait_until(lambda: session.connection_state == "generating", 10, "generating again")
        # a fresh livekit_join on a fresh socket, into a new room, with the prompt restored
        assert server.connections_total == before + 1 and server.rooms and server.rooms[0] != room
        await server.wait_for_event(lambda e: e["type"] == "prompt" and e.get("prompt") == "thermal camera", since=mark)
        await session.snapshot()
    finally:
        session.disconnect()


async def test_generation_ended_by_the_server_is_surfaced_and_not_retried(media, background_server):
    server = background_server
    server.faults.insufficient_credits_after_seconds = 0.5
    ended: list[tuple[str, int]] = []
    errors: list[Exception] = []
    done = threading.Event()
    session = await RealtimeSession.connect(
        media=media, base_url=server.url, reconnect_delays=FAST_RETRY,
        handlers={
            "generation_ended": lambda reason, seconds: ended.append((reason, seconds)),
            "error": errors.append,
            "connection_change": lambda s: s == "disconnected" and done.set(),
        },
    )
    before = server.connections_total
    try:
        await wait_until(done.is_set, 10, "disconnected")
        assert ended and ended[0][0] == "insufficient_credits"
        assert any(isinstance(e, ServerError) and "insufficient_credits" in str(e) for e in errors)
        await asyncio.sleep(0.5)
        assert server.connections_total == before  # not retried
    finally:
        server.faults.insufficient_credits_after_seconds = None
        session.disconnect()
