"""RealtimeSession against the embedded local server (in its own thread, as
a notebook would run it), including faults and cleanup."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from _leaks import (
    client_pcs,
    livekit_leftovers,
    media_loop_running,
    session_threads,
    socket_count,
    thread_names,
)
from _waits import wait_until

from decart_widgets.errors import (
    DecartTimeoutError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidInputError,
    ModelNotFoundError,
    ServerError,
    SessionClosedError,
)
from decart_widgets.images import MAX_IMAGE_BYTES
from decart_widgets.session import RealtimeSession

FAST_RETRY = (0.2, 0.2, 0.2, 0.2, 0.2)


def _png() -> bytes:
    import cv2

    img = np.zeros((32, 32, 3), np.uint8)
    img[:, :16] = (0, 0, 255)
    return cv2.imencode(".png", img)[1].tobytes()



class StateLog:
    def __init__(self, session):
        self.states: list[str] = []
        self.errors: list[Exception] = []
        self.ticks: list[int] = []
        self.changed = threading.Event()
        session.on("connection_change", self._state)
        session.on("error", self.errors.append)
        session.on("generation_tick", self.ticks.append)

    def _state(self, s):
        self.states.append(s)
        self.changed.set()


def prompts_seen(server, session_id=None):
    return [e.get("prompt") for e in client_events(server) if e.get("type") in ("prompt", "set_image")]


def client_events(server):
    return [e for e in list(server.events) if e.get("source") == "client"]


async def test_connect_generates_frames_ticks_and_updates(media, background_server):
    server = background_server
    session = await RealtimeSession.connect(
        "lucy-2.1", media=media, base_url=server.url, initial_state={"prompt": {"text": "anime", "enhance": True}}
    )
    try:
        log = StateLog(session)
        assert session.is_connected()
        assert session.session_id and session.subscribe_token
        await wait_until(lambda: session.connection_state == "generating", 5, "generating")
        frame = await session.snapshot()
        assert frame.shape == (720, 1280, 3) and frame.dtype == np.uint8
        await wait_until(lambda: log.ticks, 3, "a generation tick")
        await session.set_prompt("pencil sketch", enhance=False)
        assert session.prompt == "pencil sketch"
        await session.set(prompt="neon", image=_png())
        await session.set_image(None)  # clear the image, keep the prompt
        assert session.prompt == "neon"
        seen = prompts_seen(server)
        assert seen[:1] == ["anime"] and "pencil sketch" in seen and "neon" in seen
        stats = session.stats()
        assert stats["frames_received"] > 0 and stats["frames_sent"] >= stats["frames_received"]
        assert stats["latency_ms"] is not None and 0 < stats["latency_ms"] < 2000
        # connect-time events were held for the handlers registered after connect
        assert "connected" in log.states or "generating" in log.states
    finally:
        session.disconnect()
    assert session.connection_state == "disconnected"


async def test_passthrough_and_watch_of_image_only_initial_state(media, background_server):
    session = await RealtimeSession.connect(media=media, base_url=background_server.url, initial_state={"image": _png()})
    try:
        assert session.is_connected()
        kinds = [e["type"] for e in client_events(background_server) if e["type"] != "livekit_join"]
        assert kinds[0] == "set_image"
    finally:
        session.disconnect()


async def test_drop_reconnects_and_restores_prompt(media, background_server):
    server = background_server
    session = await RealtimeSession.connect(
        media=media, base_url=server.url, initial_state={"prompt": {"text": "sepia", "enhance": True}}
    )
    try:
        log = StateLog(session)
        await wait_until(lambda: session.connection_state == "generating", 5, "generating")
        await session.set_prompt("thermal camera")
        before = server.connections_total
        t0 = time.monotonic()
        server.drop_streams()
        await wait_until(lambda: "reconnecting" in log.states, 3, "reconnecting")
        await wait_until(lambda: session.connection_state == "generating" and log.states[-1] == "generating", 5, "generating again")
        assert time.monotonic() - t0 < 3.0
        assert server.connections_total == before + 1
        # the last acknowledged prompt was restored on the new connection
        assert prompts_seen(server)[-1] == "thermal camera"
        n = session.stats()["frames_received"]
        await wait_until(lambda: session.stats()["frames_received"] > n + 10, 5, "frames after reconnect")
        assert session.reconnects == 1 and not log.errors
    finally:
        session.disconnect()


async def test_retries_exhausted_gives_disconnected_and_error(media, background_server):
    server = background_server
    session = await RealtimeSession.connect(media=media, base_url=server.url, reconnect_delays=FAST_RETRY)
    log = StateLog(session)
    server.faults.reject_connections = 100
    before = server.connections_total
    server.drop_streams()
    await wait_until(lambda: session.connection_state == "disconnected", 10, "disconnected")
    assert "reconnecting" in log.states and log.states[-1] == "disconnected"
    assert len(log.errors) == 1
    assert server.connections_total - before == 5
    with pytest.raises(SessionClosedError):
        await session.set_prompt("too late")
    session.disconnect()
    server.faults.reject_connections = 0


async def test_permanent_error_is_not_retried(media, background_server):
    server = background_server
    session = await RealtimeSession.connect(media=media, base_url=server.url, reconnect_delays=FAST_RETRY)
    log = StateLog(session)
    before = server.connections_total
    server.send_error("Invalid API key (401)", close=True)
    await wait_until(lambda: session.connection_state == "disconnected", 5, "disconnected")
    await asyncio.sleep(0.5)
    assert server.connections_total == before
    assert "reconnecting" not in log.states
    assert any(isinstance(e, InvalidAPIKeyError) for e in log.errors)
    session.disconnect()


async def test_invalid_key_at_connect_is_a_clear_error(media):
    from decart_widgets.server import LocalServer

    with LocalServer(model="passthrough", valid_keys={"right"}).start_background() as server:
        with pytest.raises(InvalidAPIKeyError) as info:
            await RealtimeSession.connect(media=media, base_url=server.url, api_key="wrong")
        assert info.value.code == "INVALID_API_KEY" and "wrong" not in str(info.value)
        session = await RealtimeSession.connect(media=media, base_url=server.url, get_token=lambda: "right")
        session.disconnect()


async def test_moderation_rejection_raises_and_keeps_state(media, background_server):
    session = await RealtimeSession.connect(
        media=media, base_url=background_server.url, initial_state={"prompt": {"text": "watercolor", "enhance": True}}
    )
    try:
        with pytest.raises(ServerError, match="moderation") as info:
            await session.set_prompt("something nsfw")
        assert info.value.code == "WEBRTC_SERVER_ERROR"
        assert session.prompt == "watercolor" and session.is_connected()
        await session.set_prompt("sketch")  # the session still works
    finally:
        session.disconnect()


async def test_ack_timeouts_raise_timeout_errors(media, background_server):
    session = await RealtimeSession.connect(media=media, base_url=background_server.url, prompt_timeout=0.3, image_timeout=0.3)
    try:
        background_server.faults.drop_acks = True
        with pytest.raises(DecartTimeoutError) as info:
            await session.set_prompt("anime")
        assert info.value.code == "WEBRTC_TIMEOUT_ERROR" and info.value.phase == "prompt_ack"
        with pytest.raises(DecartTimeoutError):
            await session.set_image(_png(), timeout=0.3)
        assert session.prompt is None
    finally:
        background_server.faults.drop_acks = False
        session.disconnect()


async def test_blocking_the_callers_thread_does_not_stop_frames(media, background_server):
    session = await RealtimeSession.connect(media=media, base_url=background_server.url)
    try:
        await wait_until(lambda: session.stats()["frames_received"] > 5, 5, "first frames")
        before = session.stats()["frames_received"]
        time.sleep(5)  # noqa: ASYNC251 - a notebook cell that blocks (on the caller's thread and loop)
        during = session.stats()["frames_received"] - before
        assert during >= 5 * 30 * 0.6, f"only {during} frames arrived while the caller blocked"
        assert session.is_connected()
    finally:
        session.disconnect()


async def test_disconnect_leaves_nothing_running(media, background_server):
    threads_before = thread_names()
    sockets_before = socket_count()
    session = await RealtimeSession.connect(media=media, base_url=background_server.url)
    await session.snapshot()
    assert any(t.name == "decart-media-loop" for t in threading.enumerate())
    assert session.media == media and session.stats()["media"] == media
    if media == "livekit":
        assert background_server.rooms and livekit_leftovers()
    session.disconnect()
    session.disconnect()  # idempotent
    await wait_until(lambda: not background_server.streams, 5, "server to see the close")
    # the server (a separate owner, still running) may have started its own
    # workers; none of the session's may remain
    assert not session_threads(threads_before), "session threads left running"
    assert socket_count() <= sockets_before
    assert not client_pcs() and not livekit_leftovers()
    await wait_until(lambda: not background_server.rooms, 5, "the server to end the room")
    # the media loop (and with it every session task) stopped with the last session
    assert not media_loop_running()
    with pytest.raises(SessionClosedError):
        await session.set_prompt("after disconnect")
    with pytest.raises(SessionClosedError):
        session.replace_source(None)


async def test_bad_input_gets_clear_coded_errors(background_server, tmp_path):
    url = background_server.url
    with pytest.raises(ModelNotFoundError, match="lucy-2.1"):
        await RealtimeSession.connect("nope-model", base_url=url)
    with pytest.raises(InvalidBaseURLError):
        await RealtimeSession.connect(base_url="http://127.0.0.1:1")
    with pytest.raises(InvalidInputError, match="empty"):
        await RealtimeSession.connect(base_url=url, initial_state={"prompt": {"text": "  "}})
    with pytest.raises(InvalidInputError, match="unknown keys"):
        await RealtimeSession.connect(base_url=url, initial_state={"promt": "x"})
    with pytest.raises(InvalidInputError):
        await RealtimeSession.connect(base_url=url, source="camera")
    session = await RealtimeSession.connect(base_url=url)
    try:
        with pytest.raises(InvalidInputError, match="empty or blank"):
            await session.set_prompt("")
        with pytest.raises(InvalidInputError, match="must be a string"):
            await session.set_prompt(42)
        with pytest.raises(InvalidInputError, match="at least one"):
            await session.set()
        with pytest.raises(InvalidInputError, match="10 MB"):
            await session.set_image(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))
        with pytest.raises(InvalidInputError, match="not an image"):
            await session.set_image(b"definitely not an image")
        with pytest.raises(InvalidInputError, match="scheme"):
            await session.set_image("ftp://example.com/a.png")
        with pytest.raises(InvalidInputError, match="True or False"):
            await session.set_prompt("x", enhance="yes")
        with pytest.raises(InvalidInputError, match="unknown event"):
            session.on("frame_ready", lambda *a: None)
        for err in (InvalidInputError("x"), ModelNotFoundError("y")):
            assert err.code
        assert session.is_connected()  # bad input never hurts the session
        await session.set_prompt("still fine")
    finally:
        session.disconnect()


async def test_no_key_for_a_remote_server_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DECART_API_KEY", raising=False)
    with pytest.raises(InvalidAPIKeyError, match="DECART_API_KEY"):
        await RealtimeSession.connect(base_url="wss://api3.decart.ai.invalid")


async def test_connect_from_a_plain_thread_with_its_own_loop(media, background_server):
    """Public coroutines work from any event loop, not only the test's."""
    result = {}

    def worker():
        async def main():
            s = await RealtimeSession.connect(media=media, base_url=background_server.url)
            await s.set_prompt("noir")
            result["shape"] = (await s.snapshot()).shape
            s.disconnect()

        asyncio.run(main())

    t = threading.Thread(target=worker)
    t.start()
    await asyncio.get_running_loop().run_in_executor(None, t.join, 30)
    assert result["shape"] == (720, 1280, 3)


async def test_client_token_from_the_local_server_opens_a_session(media):
    from decart_widgets import create_client_token
    from decart_widgets.server import LocalServer

    with LocalServer(model="passthrough", valid_keys={"permanent-key"}).start_background() as server:
        with pytest.raises(InvalidAPIKeyError):
            await create_client_token(api_key="wrong", api_base_url=server.http_url)
        with pytest.raises(InvalidInputError, match="expires_in"):
            await create_client_token(api_key="permanent-key", api_base_url=server.http_url, expires_in=0)
        token = await create_client_token(api_key="permanent-key", api_base_url=server.http_url, expires_in=60)
        assert token["apiKey"].startswith("ek_") and "expiresAt" in token
        assert token["token"].count(".") == 2  # the signed JWT, what a front end gets
        # the short-lived key is what a less trusted place gets; get_token is called per connect
        calls = []

        def get_token():
            calls.append(1)
            return token["apiKey"]

        session = await RealtimeSession.connect(media=media, base_url=server.url, get_token=get_token)
        try:
            assert session.is_connected() and calls == [1]
        finally:
            session.disconnect()
        # the JWT opens a session too
        session = await RealtimeSession.connect(media=media, base_url=server.url, api_key=token["token"])
        session.disconnect()


async def test_subscribe_watches_a_running_session(media, background_server):
    from decart_widgets.session import LegacyWatch, RoomWatch, decode_subscribe_token

    owner = await RealtimeSession.connect(media=media, base_url=background_server.url)
    try:
        await owner.snapshot()
        token = owner.subscribe_token
        watch = decode_subscribe_token(token)
        # the token has the form of the session's generation
        if media == "livekit":
            assert isinstance(watch, RoomWatch) and watch.room_name in background_server.rooms
        else:
            assert isinstance(watch, LegacyWatch) and watch.sid == owner.session_id
        viewer = await RealtimeSession.subscribe(token, base_url=background_server.url)
        try:
            assert viewer.view_only and viewer.is_connected() and viewer.media == media
            frame = await viewer.snapshot()
            assert frame.shape == (720, 1280, 3)
            # the viewer sees the owner's test pattern (the stamp survives the passthrough model)
            from decart_widgets.common.stamp import read_stamp

            assert read_stamp(frame) is not None
            with pytest.raises(InvalidInputError, match="only watches"):
                await viewer.set_prompt("anime")
            with pytest.raises(InvalidInputError, match="only watches"):
                await viewer.snapshot("input")
            assert owner.is_connected()  # watching does not disturb the owner
            await owner.set_prompt("still mine")
        finally:
            viewer.disconnect()
    finally:
        owner.disconnect()


async def test_bad_subscribe_tokens(background_server):
    for bad in ("", "not-base64!!", "eyJ4IjogMX0", 42):
        with pytest.raises(InvalidInputError, match="subscribe token"):
            await RealtimeSession.subscribe(bad, base_url=background_server.url)
    import base64
    import json

    unknown = base64.urlsafe_b64encode(json.dumps({"sid": "nope", "ip": "127.0.0.1", "port": 1}).encode()).decode()
    with pytest.raises(ServerError, match="(?i)invalid session"):
        await RealtimeSession.subscribe(unknown, base_url=background_server.url)
    no_room = base64.urlsafe_b64encode(json.dumps({"room_name": "nope"}).encode()).decode()
    with pytest.raises(ServerError, match="404.*nope"):
        await RealtimeSession.subscribe(no_room, base_url=background_server.url, reconnect_delays=(0.1,))
    # each token form is watched over its own generation's link
    with pytest.raises(InvalidInputError, match="media='livekit'"):
        await RealtimeSession.subscribe(no_room, base_url=background_server.url, media="webrtc")
    with pytest.raises(InvalidInputError, match="media='webrtc'"):
        await RealtimeSession.subscribe(unknown, base_url=background_server.url, media="livekit")


async def test_disconnect_from_an_event_handler_leaves_nothing_running(media, background_server):
    """On the media loop disconnect() cannot wait: it closes in the background,
    and the loop's thread ends with it (no thread left behind, none unjoined)."""
    session = await RealtimeSession.connect(media=media, base_url=background_server.url)
    states = []
    session.on("connection_change", states.append)
    session.on("generation_tick", lambda seconds: session.disconnect())
    await wait_until(lambda: "disconnected" in states, 10, "disconnected")
    session.disconnect()  # from here: waits for the background teardown
    await wait_until(lambda: not media_loop_running(), 10, "the media loop to stop")
    assert not media_loop_running() and not client_pcs() and not livekit_leftovers()
    with pytest.raises(SessionClosedError):
        await session.set_prompt("after disconnect")


async def test_a_closed_session_leaves_no_task_on_a_shared_media_loop(media, background_server):
    """With another owner keeping the media loop alive (a widget, a second
    session), a closed session's tasks must be gone, not just stopped with the loop."""
    from decart_widgets.common.media_loop import media_loop

    loop = media_loop.acquire()
    try:
        before = set(await media_loop.run(_tasks_on_loop()))
        session = await RealtimeSession.connect(media=media, base_url=background_server.url)
        await session.snapshot()
        assert set(await media_loop.run(_tasks_on_loop())) - before  # it had some
        session.disconnect()
        await wait_until(lambda: not background_server.streams, 5, "server to see the close")

        async def left() -> set:
            return set(await _tasks_on_loop()) - before

        assert not await media_loop.run(left()), "session tasks left on the media loop"
        if media == "livekit":
            assert not livekit_leftovers()
        assert loop.is_running()
    finally:
        media_loop.release()


async def _tasks_on_loop() -> list:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]
