"""``LocalServer``: a Decart-compatible realtime server on loopback.

Two ways to run it, both idempotent to stop:

- on the caller's loop: ``await server.start()`` / ``await server.stop()``,
  or ``async with LocalServer() as server:``;
- on its own thread with its own loop (notebooks, the widget, the demo):
  ``server.start_background()`` / ``server.close()``, or
  ``with LocalServer().start_background() as server:``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection

from ..common.rtc import is_loopback_host
from ..common.tasks import TaskSet
from ._auth import KeyRing
from ._background import BackgroundLoop
from ._event_log import Event, Predicate
from ._state import ServerState
from ._stream import Stream, StreamInfo
from ._tracks import passthrough
from .faults import Faults
from .model_api import LocalModel

__all__ = ["LocalServer", "serve_forever"]

log = logging.getLogger(__name__)

THREAD_NAME = "decart-local-server"


def _resolve_model(model: object) -> tuple[LocalModel, bool]:
    """(the model callable, whether it never writes into its input)."""
    if model is None:
        from .effects import EffectsModel

        return EffectsModel(), True
    if isinstance(model, str) and model == "passthrough":
        return passthrough, True
    if callable(model) and not isinstance(model, str):
        return model, False
    raise TypeError(
        "model must be None (the default local effects), 'passthrough', or a callable "
        f"model(frame: HxWx3 uint8 RGB ndarray, state: ModelState) -> frame; got {model!r}"
    )


def _resolve_keys(valid_keys: Iterable[str] | None) -> frozenset[str] | None:
    if valid_keys is None:
        return None
    if isinstance(valid_keys, (str, bytes)):
        raise TypeError("valid_keys must be a collection of key strings (e.g. {'my-key'}), not a single string")
    keys = frozenset(valid_keys)
    if not all(isinstance(k, str) and k for k in keys):
        raise TypeError("valid_keys must hold non-empty strings")
    return keys


class LocalServer:
    """A realtime server speaking docs/protocol.md, running a local model.

    Both protocol generations are served on one port: the legacy direct
    WebRTC flow (``offer`` on ``/v1/stream``) and the current LiveKit flow
    (``livekit_join`` on ``/v1/stream``, then a LiveKit room at ``/rtc``).

    :param host: interface to bind; loopback by default. Any other host needs
        a non-empty ``valid_keys``.
    :param port: TCP port; 0 picks a free one (see :attr:`port`).
    :param model: None for the default effects model, ``"passthrough"``, or
        any callable ``model(frame, state) -> frame``.
    :param valid_keys: accepted API keys; None accepts any non-empty key.
    :param faults: fault injection (:class:`Faults`), also changeable live.
    :param tick_interval: seconds between ``generation_tick`` messages.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        model: LocalModel | str | None = None,
        valid_keys: Iterable[str] | None = None,
        faults: Faults | None = None,
        tick_interval: float = 1.0,
    ) -> None:
        keys = _resolve_keys(valid_keys)
        if not is_loopback_host(host) and not keys:
            raise ValueError(
                f"refusing to bind the local server to non-loopback host {host!r} without API keys: "
                "pass valid_keys={'<a secret key>'} (anyone who can reach the port could use it), "
                "or bind 127.0.0.1"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults instance, got {type(faults).__name__}")
        if isinstance(tick_interval, bool) or not isinstance(tick_interval, (int, float)) or tick_interval <= 0:
            raise ValueError(f"tick_interval must be a positive number of seconds, got {tick_interval!r}")
        resolved, trusted_identity = _resolve_model(model)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._faults = Faults()
        self._unsubscribe_faults: Callable[[], None] | None = None
        self._state = ServerState(
            host=host, loopback=is_loopback_host(host), model=resolved, trusted_identity=trusted_identity,
            keys=KeyRing(keys), get_faults=lambda: self._faults, tick_interval=float(tick_interval))
        self.faults = faults if faults is not None else Faults()
        self._tasks = TaskSet("local server")
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: BackgroundLoop | None = None

    # -- addresses ------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise RuntimeError("the server is not running: start() or start_background() it first")
        return self._port

    @property
    def url(self) -> str:
        """The realtime base URL, ``ws://host:port`` (clients append ``/v1/stream?...``)."""
        return f"ws://{self._url_host()}:{self.port}"

    @property
    def http_url(self) -> str:
        """``http://host:port`` (the API base URL for ``/v1/client/tokens``)."""
        return f"http://{self._url_host()}:{self.port}"

    def _url_host(self) -> str:
        return f"[{self._host}]" if ":" in self._host else self._host

    @property
    def tick_interval(self) -> float:
        """Seconds between ``generation_tick`` messages (changeable; new streams use it)."""
        return self._state.tick_interval

    @tick_interval.setter
    def tick_interval(self, value: float) -> None:
        self._state.tick_interval = float(value)

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- faults ---------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """Live fault injection; assign a new :class:`Faults` or change its fields."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        if not isinstance(value, Faults):
            raise TypeError(f"faults must be a Faults instance, got {type(value).__name__}")
        if self._unsubscribe_faults is not None:
            self._unsubscribe_faults()
        self._faults = value
        self._unsubscribe_faults = value.subscribe(self._on_faults_changed)
        self._on_faults_changed()

    def _on_faults_changed(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._notify_streams)
        except RuntimeError:  # the loop just closed
            pass

    def _notify_streams(self) -> None:
        for stream in list(self._state.streams.values()):
            stream.faults_changed()

    # -- observability --------------------------------------------------
    @property
    def streams(self) -> list[StreamInfo]:
        """Snapshots of the live streams."""
        return [s.info() for s in list(self._state.streams.values())]

    @property
    def connections_total(self) -> int:
        """Realtime WebSocket connections accepted since construction (rejected ones included)."""
        return self._state.connections_total

    @property
    def peer_connections(self) -> list[RTCPeerConnection]:
        """The server's live peer connections (clients, subscribers and LiveKit
        participants, two each: publisher and subscriber)."""
        return list(self._state.peer_connections)

    @property
    def rooms(self) -> list[str]:
        """Names of the live LiveKit rooms (one per LiveKit-generation stream)."""
        return [room.name for room in self._state.rooms]

    @property
    def events(self) -> list[Event]:
        """What the server saw (see :mod:`._event_log`), oldest first, bounded."""
        return self._state.events.snapshot()

    def mark_events(self) -> int:
        """The newest event's ``seq``: pass as ``since=`` to wait for later events only."""
        return self._state.events.mark()

    async def wait_for_event(self, predicate: Predicate, timeout: float = 10.0, *, since: int = 0) -> Event:
        """The first event (already seen, or coming) with ``seq > since`` that
        matches ``predicate``; works from any loop (the server's or another).
        Raises TimeoutError."""
        return await self._state.events.wait(predicate, timeout, since)

    def wait_for_event_sync(self, predicate: Predicate, timeout: float = 10.0, *, since: int = 0) -> Event:
        """Blocking twin of :meth:`wait_for_event` for plain threads (not on the server's loop)."""
        if self._loop is not None and self._in_server_thread():
            raise RuntimeError("wait_for_event_sync() would deadlock on the server's loop; await wait_for_event()")
        return self._state.events.wait_sync(predicate, timeout, since)

    # -- acting on live streams -----------------------------------------
    def drop_streams(self) -> int:
        """Abruptly drop every live stream (socket and peer connection), as a
        network failure would. Thread-safe; returns how many streams it targets
        and completes shortly after on the server's loop (wait for the
        ``stream_closed`` events to know when)."""
        return self._on_streams(lambda s: s.drop())

    def send_error(self, text: str, close: bool = False) -> int:
        """Send a server ``error`` to every live stream, then close it if
        ``close``. Thread-safe; returns how many streams it targets."""
        async def act(stream: Stream) -> None:
            from .. import protocol

            await stream.send(protocol.Error(text))
            if close:
                await stream.close()

        return self._on_streams(act)

    def close_rooms(self) -> int:
        """End every LiveKit room as a server would: each participant gets a
        LeaveRequest (DISCONNECT, room deleted) and its connections close. The
        control sockets stay open: a client that joins again (``livekit_join``)
        gets a new room. Thread-safe; returns how many rooms it targets."""
        rooms = len(self._state.rooms)
        loop = self._loop
        if loop is None or not rooms:
            return 0

        def schedule() -> None:
            self._tasks.spawn(self._state.rooms.close_all())

        if self._in_server_thread():
            schedule()
        else:
            loop.call_soon_threadsafe(schedule)
        return rooms

    def _on_streams(self, action: Callable[[Stream], Any]) -> int:
        loop = self._loop
        streams = list(self._state.streams.values())
        if loop is None or not streams:
            return 0

        def schedule() -> None:
            for s in streams:
                s._spawn(action(s))

        if self._in_server_thread():
            schedule()
        else:
            loop.call_soon_threadsafe(schedule)
        return len(streams)

    def _in_server_thread(self) -> bool:
        if self._background is not None:
            return self._background.in_loop_thread()
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- async lifecycle (the caller's loop) ----------------------------
    async def start(self) -> LocalServer:
        """Start listening on the running loop; returns self. Idempotent."""
        if self._runner is not None:
            return self
        from ._app import build_app

        runner = web.AppRunner(build_app(self._state), access_log=None, handle_signals=False, shutdown_timeout=3.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._loop = asyncio.get_running_loop()
        self._runner = runner
        self._port = self._state.port = runner.addresses[0][1]
        log.info("local Decart server listening on %s", self.url)
        return self

    async def stop(self) -> None:
        """Close every stream, the listening socket and all peer connections. Idempotent."""
        if self._background is not None:
            if self._background.in_loop_thread():
                raise RuntimeError("stop() on the server's own thread: call close() from another thread")
            self.close()
            return
        await self._stop_here()

    async def _stop_here(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        state = self._state
        streams = list(state.streams.values())
        await asyncio.gather(*(s.close(reason="server_shutdown") for s in streams), return_exceptions=True)
        state.streams.clear()
        await state.rooms.close_all()
        await runner.cleanup()
        await self._tasks.close()
        for pc in list(state.peer_connections):  # none should be left; be sure
            await pc.close()
        state.peer_connections.clear()
        state.blackhole.close()
        self._loop = None
        log.info("local Decart server stopped")

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Run until cancelled (e.g. Ctrl-C under ``asyncio.run``), then stop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- background lifecycle (its own thread and loop) -----------------
    def start_background(self, timeout: float = 30.0) -> LocalServer:
        """Start on a new thread with its own event loop; returns once
        listening (self). Idempotent. Stop with :meth:`close`."""
        if self._background is not None:
            return self
        if self._runner is not None:
            raise RuntimeError("the server already runs on a caller's loop; stop() it first")
        background = BackgroundLoop(THREAD_NAME)
        background.start()
        try:
            background.run(self.start(), timeout)
        except BaseException:
            background.stop()
            raise
        self._background = background
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop the server and join its thread. Idempotent; safe from any
        thread except the server's own."""
        background, loop = self._background, self._loop
        if background is not None:
            if background.in_loop_thread():
                raise RuntimeError("close() called on the server's own thread")
            try:
                background.run(self._stop_here(), timeout)
            finally:
                self._background = None
                background.stop()
            return
        if loop is None or self._runner is None:
            return
        if self._in_server_thread():
            raise RuntimeError("the server runs on this thread's loop: use `await server.stop()`")
        asyncio.run_coroutine_threadsafe(self._stop_here(), loop).result(timeout)

    def __enter__(self) -> LocalServer:
        if not self.running:
            self.start_background()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.url if self._port is not None and self.running else "not running"
        mode = " (background)" if self._background is not None else ""
        return f"<LocalServer {where}{mode}, {len(self._state.streams)} stream(s)>"


async def serve_forever(host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
    """Run a :class:`LocalServer` until cancelled (for the CLI)."""
    await LocalServer(host, port, **kwargs).serve_forever()
