"""``RealtimeSession``: a live connection to a realtime model, its state
machine and reconnects (docs/protocol.md section 5), prompt/image updates and
events. Every coroutine here runs on the background media loop; the public
coroutines hop there from whatever loop awaits them.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import inspect
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np

from ._connection import Connection, StateSpec, Timeouts
from ._events import EventEmitter
from ._version import __version__
from .common.bitrate import DEFAULT_UPSTREAM_BITRATE
from .common.media_loop import media_loop
from .common.rtc import is_loopback_host
from .errors import (
    DecartError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidInputError,
    ServerError,
    SessionClosedError,
    TimeoutError_,
    WebSocketError,
    is_permanent_error,
)
from .images import ImageInput, load_image_b64
from .media.frames import FrameHub, SessionRecording
from .media.meters import LatencyMeter
from .media.output import OutputSink
from .media.sources import Source, TestPatternSource
from .media.stats import RtpCounters, quality_verdict
from .media.taps import Tap
from .media.track import FramePump
from .models import ModelDefinition, get_model
from .signaling import redact_url

if TYPE_CHECKING:
    from .widget import DecartView

log = logging.getLogger(__name__)

__all__ = ["RealtimeSession", "ConnectionState", "DEFAULT_BASE_URL", "EVENTS"]

DEFAULT_BASE_URL = "wss://api3.decart.ai"
EVENTS = ("connection_change", "generation_tick", "error", "stats")
#: Seconds between ``stats`` events.
STATS_INTERVAL = 1.0
#: Delays before retries 1..5 (docs/protocol.md section 5).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 10.0)
_UNSET: Any = object()


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GENERATING = "generating"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"

    def __str__(self) -> str:
        return self.value


GetToken = Callable[[], "str | Awaitable[str]"]


def _check_prompt(prompt: Any, what: str = "prompt") -> str:
    if not isinstance(prompt, str):
        raise InvalidInputError(f"{what} must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidInputError(f"{what} must not be empty or blank")
    return prompt


def _check_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, got {value!r}")
    return value


class RealtimeSession:
    """A connected realtime session. Create one with :meth:`connect`."""

    def __init__(self, *, _token: object = None, **kwargs: Any) -> None:
        if _token is not _CONNECT_TOKEN:
            raise TypeError("use `await RealtimeSession.connect(...)` to create a session")
        self._init(**kwargs)

    # ------------------------------------------------------------------ set-up

    def _init(
        self,
        model: ModelDefinition,
        source: Source,
        base_url: str,
        api_key: str | None,
        get_token: GetToken | None,
        timeouts: Timeouts,
        reconnect: bool,
        reconnect_delays: tuple[float, ...],
        user_agent: str | None,
        query: dict[str, str],
        mirror: bool | str,
        bitrate: int | None,
        watch: tuple[str, str, int] | None = None,
    ) -> None:
        self.model = model
        #: (session id, server ip, server port) of the session this one watches.
        self._watch = watch
        self._base_url = base_url
        self._api_key = api_key
        self._get_token = get_token
        self._timeouts = timeouts
        self._reconnect = reconnect
        self._reconnect_delays = reconnect_delays
        self._user_agent = user_agent or f"decart-widgets/{__version__} lang/py"
        self._query = query
        self._loopback = is_loopback_host(urllib.parse.urlsplit(base_url).hostname)
        self._loop = media_loop.acquire()
        self._released = False
        self._events = EventEmitter(EVENTS, self._loop)
        self._state = ConnectionState.CONNECTING
        self._closed = False
        self._close_lock = threading.Lock()
        self._conn: Connection | None = None
        self._http: aiohttp.ClientSession | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._link_up: asyncio.Event | None = None
        self._acked = StateSpec()
        self._has_acked_state = False
        self._session_id: str | None = None
        self._server_ip: str | None = None
        self._server_port: int | None = None
        self.generation_seconds = 0
        self.last_error: DecartError | None = None
        self.connect_time_s: float | None = None
        self.reconnects = 0
        # the path of a frame: pump -> (model) -> output sink -> hub
        latency = LatencyMeter()
        self._hub = FrameHub(self._loop, model.fps, latency, self._report)
        self._pump = FramePump(
            source, model.width, model.height, model.fps, mirror=mirror, latency=latency,
            process=self._hub.process_input, needs_pixels=self._hub.needs_input_pixels,
        )
        self._bitrate = bitrate
        self.output = OutputSink(latency, on_frame=self._hub.on_output)
        self._rtp = RtpCounters()
        self._stats_task: asyncio.Task[None] | None = None
        self._started_at = time.perf_counter()

    @classmethod
    async def connect(
        cls,
        model: str | ModelDefinition = "lucy-2.1",
        *,
        source: Source | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        get_token: GetToken | None = None,
        initial_state: dict[str, Any] | None = None,
        prompt_timeout: float = 15.0,
        image_timeout: float = 30.0,
        connect_timeout: float = 300.0,
        reconnect: bool = True,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
        user_agent: str | None = None,
        query: dict[str, str] | None = None,
        mirror: bool | str = False,
        bitrate: int | None = _UNSET,
    ) -> RealtimeSession:
        """Connect to a realtime model and return the live session.

        ``initial_state`` is ``{"prompt": {"text": str, "enhance": bool}, "image": ImageInput}``
        (either part optional); it is acknowledged before media starts.
        ``mirror`` flips upstream frames (``"auto"``: when the source is a
        selfie camera). ``bitrate`` pins the upstream VP8 bitrate in bits/s
        (default 2.5 Mbps at 1280x720, scaled by frame area; ``None`` leaves
        aiortc's adaptive 0.5-1.5 Mbps).
        The key comes from ``api_key``, else ``get_token()`` (called again on
        each reconnect), else ``$DECART_API_KEY``; a loopback ``base_url``
        (the local server) needs none.
        """
        model_def = get_model(model)
        if source is None:
            source = TestPatternSource()
        elif not isinstance(source, Source):
            raise InvalidInputError(
                f"source must be a decart_widgets Source (e.g. TestPatternSource()), got {type(source).__name__}"
            )
        base = _check_base_url(base_url if base_url is not None else DEFAULT_BASE_URL)
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise InvalidAPIKeyError("api_key must be a non-empty string")
        if get_token is not None and not callable(get_token):
            raise InvalidInputError("get_token must be a callable returning a key or token")
        for name, value in (("prompt_timeout", prompt_timeout), ("image_timeout", image_timeout), ("connect_timeout", connect_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInputError(f"{name} must be a positive number of seconds, got {value!r}")
        if mirror not in (True, False, "auto"):
            raise InvalidInputError(f"mirror must be True, False or 'auto', got {mirror!r}")
        if bitrate is _UNSET:
            area = model_def.width * model_def.height
            bitrate = max(1_000_000, int(DEFAULT_UPSTREAM_BITRATE * area / (1280 * 720)))
        elif bitrate is not None and (isinstance(bitrate, bool) or not isinstance(bitrate, int) or not 100_000 <= bitrate <= 50_000_000):
            raise InvalidInputError(f"bitrate must be bits per second between 100_000 and 50_000_000, or None; got {bitrate!r}")
        initial = await _parse_initial_state(initial_state)
        session = cls(
            _token=_CONNECT_TOKEN,
            model=model_def,
            source=source,
            base_url=base,
            api_key=api_key,
            get_token=get_token,
            timeouts=Timeouts(prompt=prompt_timeout, image=image_timeout, connect=connect_timeout),
            reconnect=_check_bool(reconnect, "reconnect"),
            reconnect_delays=tuple(reconnect_delays),
            user_agent=user_agent,
            query=dict(query or {}),
            mirror=mirror,
            bitrate=bitrate,
        )
        return await session._launch(initial)

    @classmethod
    async def subscribe(
        cls,
        token: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        get_token: GetToken | None = None,
        connect_timeout: float = 300.0,
        reconnect: bool = True,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
    ) -> RealtimeSession:
        """Watch a running session's output, view-only (docs/protocol.md section 1).

        ``token`` is the other session's :attr:`subscribe_token`. The returned
        session has the output side of the API (``on_frame``, ``snapshot``,
        ``frames``, ``record``, ``stats``, events); it sends no video and
        refuses prompt and image changes.
        """
        watch = decode_subscribe_token(token)
        base = _check_base_url(base_url if base_url is not None else DEFAULT_BASE_URL)
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise InvalidAPIKeyError("api_key must be a non-empty string")
        session = cls(
            _token=_CONNECT_TOKEN,
            model=get_model("lucy-2.1"),
            source=TestPatternSource(),
            base_url=base,
            api_key=api_key,
            get_token=get_token,
            timeouts=Timeouts(connect=connect_timeout),
            reconnect=_check_bool(reconnect, "reconnect"),
            reconnect_delays=tuple(reconnect_delays),
            user_agent=None,
            query={},
            mirror=False,
            bitrate=None,
            watch=watch,
        )
        return await session._launch(None)

    @property
    def view_only(self) -> bool:
        """True for a session made by :meth:`subscribe`."""
        return self._watch is not None

    async def _launch(self, initial: StateSpec | None) -> RealtimeSession:
        """Connect for the first time (on the media loop); on failure release everything."""
        try:
            await media_loop.run(self._first_connect(initial))
        except BaseException:
            self.disconnect()
            raise
        return self

    async def _first_connect(self, initial: StateSpec | None) -> None:
        self._events.hold()
        self._link_up = asyncio.Event()
        self._http = aiohttp.ClientSession()
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(self._open(initial), self._timeouts.connect)
        except asyncio.TimeoutError as exc:
            raise TimeoutError_(
                f"connect did not finish within {self._timeouts.connect:g} s", phase="connect"
            ) from exc
        finally:
            self._events.release_held()
        self.connect_time_s = time.perf_counter() - t0
        if initial is not None:
            self._acked, self._has_acked_state = initial, True
        self._supervisor = self._loop.create_task(self._supervise(), name="decart-session-supervisor")
        self._stats_task = self._loop.create_task(self._stats_loop(), name="decart-session-stats")

    async def _resolve_key(self) -> str:
        if self._api_key is not None:
            return self._api_key
        if self._get_token is not None:
            try:
                # a plain get_token may block (an HTTP call): keep it off the media loop
                if inspect.iscoroutinefunction(self._get_token):
                    token = await self._get_token()
                else:
                    token = await asyncio.to_thread(self._get_token)
                if inspect.isawaitable(token):
                    token = await token
            except DecartError:
                raise
            except Exception as exc:
                raise InvalidAPIKeyError(f"get_token() failed: {exc}") from exc
            if not isinstance(token, str) or not token.strip():
                raise InvalidAPIKeyError("get_token() must return a non-empty string")
            return token
        env = os.environ.get("DECART_API_KEY", "").strip()
        if env:
            return env
        if self._loopback:
            return "local"
        raise InvalidAPIKeyError(
            "no API key: pass api_key=..., set DECART_API_KEY, or pass get_token=... "
            "(or use the local server, which needs none)"
        )

    async def _open(self, initial: StateSpec | None) -> None:
        """One connection attempt; on success it becomes the current one."""
        key = await self._resolve_key()
        if self._watch is not None:
            sid, ip, port = self._watch
            query = urllib.parse.urlencode({"IP": ip, "port": port, "api_key": key})
            url = f"{self._base_url}/subscribe/{urllib.parse.quote(sid, safe='')}?{query}"
        else:
            params = {"api_key": key, "model": self.model.name, "user_agent": self._user_agent, **self._query}
            url = f"{self._base_url}{self.model.url_path}?{urllib.parse.urlencode(params)}"
        log.info("connecting to %s", redact_url(url))
        assert self._http is not None
        conn = Connection(
            http=self._http,
            url=url,
            track=None if self._watch is not None else self._pump.track(),
            loopback=self._loopback,
            timeouts=self._timeouts,
            on_event=lambda kind, payload: self._on_conn_event(conn, kind, payload),
            on_output_frame=self.output.push,
            bitrate=self._bitrate,
        )
        self._conn = conn
        try:
            await conn.open(initial)
        except BaseException:
            await conn.close()
            if self._conn is conn:
                self._conn = None
            raise
        assert self._link_up is not None
        self._link_up.set()
        if self._state is not ConnectionState.GENERATING:
            self._set_state(ConnectionState.CONNECTED)

    # ----------------------------------------------------------- state & events

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        if (
            self._state is ConnectionState.GENERATING
            and state is ConnectionState.CONNECTED
        ):
            return  # generating is sticky
        self._state = state
        self._events.emit("connection_change", state.value)

    def _on_conn_event(self, conn: Connection, kind: str, payload: Any) -> None:
        if conn is not self._conn:
            return  # a stale connection being torn down
        if kind == "session_id":
            self._session_id, self._server_ip, self._server_port = (
                payload.session_id, payload.server_ip, payload.server_port,
            )
        elif kind == "generation_started":
            if self._state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
                self._set_state(ConnectionState.GENERATING)
        elif kind == "generation_tick":
            self.generation_seconds = payload
            self._events.emit("generation_tick", payload)
        elif kind == "generation_ended":
            if payload.reason == "insufficient_credits":
                self._report(ServerError(f"generation ended: {payload.reason}"))
                self._fatal = ServerError("insufficient credits")
        elif kind == "error" and self._link_up is not None and self._link_up.is_set():
            # errors while a connection is still opening surface as its failure
            self._report(payload)

    def _report(self, error: DecartError) -> None:
        self.last_error = error
        self._events.emit("error", error)

    # ---------------------------------------------------------------- reconnect

    _fatal: DecartError | None = None

    async def _supervise(self) -> None:
        while True:
            conn = self._conn
            if conn is None:
                return
            reason = await conn.lost
            if self._closed:
                return
            assert self._link_up is not None
            self._link_up.clear()
            await conn.settle()
            await conn.close()
            fatal = self._fatal or conn.fatal or (
                reason if reason is not None and is_permanent_error(reason.message) else None
            )
            if fatal is not None or not self._reconnect:
                self._finish(fatal or reason or WebSocketError("connection lost"))
                return
            log.info("connection lost (%s); reconnecting", reason)
            self._set_state(ConnectionState.RECONNECTING)
            if not await self._retry():
                return

    async def _retry(self) -> bool:
        last: BaseException | None = None
        for attempt, delay in enumerate(self._reconnect_delays, 1):
            await asyncio.sleep(delay)
            if self._closed:
                return False
            restore = self._acked if self._has_acked_state else None
            try:
                await asyncio.wait_for(self._open(restore), self._timeouts.connect)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure counts as a try
                last = exc
                log.info("reconnect attempt %d failed: %s", attempt, exc)
                if isinstance(exc, DecartError) and is_permanent_error(exc.message):
                    break
                continue
            self.reconnects += 1
            return True
        err = last if isinstance(last, DecartError) else WebSocketError(
            f"reconnect failed after {len(self._reconnect_delays)} attempts: {last}"
        )
        self._finish(err)
        return False

    def _finish(self, error: DecartError) -> None:
        """Give up: final ``disconnected`` plus an ``error`` event."""
        self._closed = True
        self._report(error)
        self._set_state(ConnectionState.DISCONNECTED)
        # release everything the session holds, from a thread that may block
        threading.Thread(target=self.disconnect, name="decart-session-finish", daemon=True).start()

    # ------------------------------------------------------------------ public

    @property
    def connection_state(self) -> str:
        """One of ``connecting``, ``connected``, ``generating``, ``reconnecting``, ``disconnected``."""
        return self._state.value

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def subscribe_token(self) -> str | None:
        """Token a viewer passes to :meth:`subscribe` to watch this session's output."""
        if self._session_id is None:
            return None
        payload = {"sid": self._session_id, "ip": self._server_ip, "port": self._server_port}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    @property
    def prompt(self) -> str | None:
        """The last prompt the server acknowledged."""
        return self._acked.prompt

    def is_connected(self) -> bool:
        return self._state in (ConnectionState.CONNECTED, ConnectionState.GENERATING)

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a handler: ``connection_change(state)``, ``generation_tick(seconds)``,
        ``error(exc)``, ``stats(dict)`` (about once a second)."""
        self._events.on(event, handler)

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        self._events.off(event, handler)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                "this session is disconnected; create a new one with RealtimeSession.connect()"
            )

    async def set(self, *, prompt: str | None = None, image: ImageInput = _UNSET, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace prompt and/or reference image atomically; returns once acknowledged.

        ``image=None`` clears the reference image.
        """
        self._check_open()
        self._check_sender()
        if prompt is None and image is _UNSET:
            raise InvalidInputError("set() needs at least one of prompt= or image=")
        if prompt is not None:
            _check_prompt(prompt)
        _check_bool(enhance, "enhance")
        image_b64 = None if image is _UNSET or image is None else await load_image_b64(image)
        if image is _UNSET:
            await self._apply(StateSpec(prompt, enhance, None), image=False, timeout=timeout)
        else:
            await self._apply(StateSpec(prompt, enhance, image_b64), image=True, timeout=timeout)

    async def set_prompt(self, text: str, *, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace the text prompt; returns once the server acknowledged it."""
        self._check_open()
        self._check_sender()
        _check_prompt(text)
        _check_bool(enhance, "enhance")
        await self._apply(StateSpec(text, enhance, None), image=False, timeout=timeout)

    async def set_image(self, image: ImageInput | None, *, prompt: str | None = None, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace (or with ``None`` clear) the reference image, optionally with a prompt."""
        self._check_open()
        self._check_sender()
        if prompt is not None:
            _check_prompt(prompt)
        _check_bool(enhance, "enhance")
        image_b64 = None if image is None else await load_image_b64(image)
        await self._apply(StateSpec(prompt, enhance, image_b64), image=True, timeout=timeout)

    def _check_sender(self) -> None:
        if self._watch is not None:
            raise InvalidInputError("this session only watches another one (subscribe): it cannot send prompts, images or video")

    async def _apply(self, spec: StateSpec, *, image: bool, timeout: float | None) -> None:
        self._check_sender()
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
        await media_loop.run(self._apply_on_loop(spec, image, timeout))

    async def _apply_on_loop(self, spec: StateSpec, image: bool, timeout: float | None) -> None:
        limit = timeout or (self._timeouts.image if image else self._timeouts.prompt)
        assert self._link_up is not None
        if not self._link_up.is_set():
            try:
                await asyncio.wait_for(self._link_up.wait(), limit)
            except asyncio.TimeoutError as exc:
                raise TimeoutError_("session is not connected (reconnecting)", phase="reconnect") from exc
        self._check_open()
        conn = self._conn
        if conn is None:
            raise WebSocketError("session is not connected")
        if image:
            if spec.image_b64 is None and spec.prompt is None and self._acked.prompt is not None:
                # clearing the image alone must keep the prompt: both null means passthrough
                spec = StateSpec(self._acked.prompt, self._acked.enhance, None)
            await conn.channel.request_set_image(
                spec.image_b64, spec.prompt, spec.enhance if spec.prompt is not None else None, limit
            )
            new_prompt = spec.prompt if spec.prompt is not None else self._acked.prompt
            new_enhance = spec.enhance if spec.prompt is not None else self._acked.enhance
            self._acked = StateSpec(new_prompt, new_enhance, spec.image_b64)
        else:
            if spec.prompt is None:
                return
            await conn.channel.request_prompt(spec.prompt, spec.enhance, limit)
            self._acked = StateSpec(spec.prompt, spec.enhance, self._acked.image_b64)
        self._has_acked_state = True

    def replace_source(self, source: Source) -> None:
        """Swap the upstream source between two frames, without reconnecting."""
        self._check_open()
        self._check_sender()
        if not isinstance(source, Source):
            raise InvalidInputError(f"source must be a Source, got {type(source).__name__}")
        old = self._pump.replace_source(source)
        if old is not source:
            old.close()

    # ------------------------------------------------------------ frame access

    def on_frame(
        self, callback: Callable[..., Any], stream: str = "output", *, transform: bool = False,
        video_frame: bool = False,
    ) -> Tap | None:
        """Call ``callback(frame, info)`` with ``HxWx3 uint8`` RGB frames of ``stream``.

        Callbacks run on a worker of their own, always on the newest frame;
        frames they are too slow for are counted as skipped, never queued. An
        exception is reported once (``error`` event) and media goes on. With
        ``transform=True`` (input only) the callback's returned array replaces
        the frame sent to the model (``None`` keeps it); transforms run in
        order, off the media loop, and their time adds to the upstream delay.
        ``video_frame=True`` (output only) passes the received ``av.VideoFrame``
        unconverted. Returns the callback's tap (its ``offered``,
        ``delivered`` and ``skipped`` counts), None for a transform.
        """
        self._check_open()
        return self._hub.on_frame(callback, stream, transform=transform, video_frame=video_frame)

    def on_pair(self, callback: Callable[..., Any]) -> Tap:
        """Call ``callback(input, output, info)`` with each output frame and the
        input frame that produced it: exact when the source stamps a counter
        (the test pattern; ``info.matched_by == "stamp"``), otherwise the input
        sent one measured latency earlier (approximate, ``"time"``)."""
        self._check_open()
        return self._hub.on_pair(callback)

    def off_frame(self, callback: Callable[..., Any]) -> None:
        """Remove a frame callback, transform or pair callback."""
        if not self._hub.off(callback):
            raise InvalidInputError("that callback is not registered")

    async def snapshot(self, stream: str = "output", timeout: float = 10.0) -> np.ndarray:
        """The next frame of ``stream`` as an ``HxWx3 uint8`` RGB array."""
        self._check_open()
        if stream not in ("input", "output"):
            raise InvalidInputError(f"stream must be 'input' or 'output', got {stream!r}")
        if stream == "input":
            self._check_sender()

        async def wait() -> np.ndarray:
            return await asyncio.wait_for(self._hub.next_frame(stream), timeout)

        try:
            return await media_loop.run(wait())
        except asyncio.TimeoutError as exc:
            raise TimeoutError_(f"no {stream} frame within {timeout:g} s", phase="frame") from exc

    def frames(self, stream: str = "output", *, max_fps: float | None = None, with_info: bool = False) -> AsyncIterator[Any]:
        """``async for frame in session.frames("output", max_fps=5)``: newest frames,
        at most ``max_fps`` a second; ``with_info=True`` yields ``(frame, info)``.
        Works from any event loop; leaving the loop removes its tap."""
        self._check_open()
        it = self._hub.iterate(stream, max_fps)
        return it if with_info else _frames_only(it)

    def record(self, path: str | Path, streams: str = "output", fps: float | None = None) -> SessionRecording:
        """Record ``"output"``, ``"input"`` or ``"side_by_side"`` to an MP4 (H.264).

        Returns a recording with ``stop()`` (also a context manager). Timestamps
        follow the wall clock, so a reconnect shows as a pause; ``fps`` caps the
        rate (default: every frame). Stopped by ``disconnect()`` at the latest.
        """
        self._check_open()
        return self._hub.record(path, streams, fps)

    # ------------------------------------------------------------------ display

    def show(self, *, show_input: bool = False, transport: str = "auto") -> DecartView:
        """A :class:`~decart_widgets.widget.DecartView` of this session for a
        notebook cell: its output (and with ``show_input=True`` its input),
        status and stats. Closing the view leaves the session running."""
        from .widget import DecartView  # the widget layer builds on this one: imported on use

        return DecartView(self, show_input=show_input, transport=transport)

    # ------------------------------------------------------------------ stats

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            conn = self._conn
            if conn is not None and self._link_up is not None and self._link_up.is_set():
                try:
                    self._rtp.update(await conn.pc.getStats())
                except Exception:  # noqa: BLE001 - stats are best effort
                    log.debug("getStats failed", exc_info=True)
            self._events.emit("stats", self.stats())

    def stats(self) -> dict[str, Any]:
        """Frame rates, bitrates, RTT, loss, latency and a quality verdict."""
        out = self.output
        ttff = None if out.first_frame_at is None else out.first_frame_at - self._started_at
        lat = sorted(out.latencies)
        p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else None
        fps_out = round(out.fps(), 2)
        rtp = self._rtp
        return {
            "state": self._state.value,
            "fps_in": round(self._pump.fps_sent(), 2),
            "fps_out": fps_out,
            "frames_sent": self._pump.frames_sent,
            "frames_received": out.frames_received,
            "frames_skipped_by_taps": self._hub.skipped,
            "bitrate_up": rtp.bitrate_up,
            "bitrate_down": rtp.bitrate_down,
            "rtt_ms": rtp.rtt_ms,
            "packet_loss_pct": rtp.packet_loss_pct,
            "latency_ms": out.latency_ms(),
            "latency_p95_ms": p95,
            "connect_time_s": self.connect_time_s,
            "time_to_first_frame_s": ttff,
            "generation_seconds": self.generation_seconds,
            "reconnects": self.reconnects,
            "quality": quality_verdict(
                rtt_ms=rtp.rtt_ms,
                fps=fps_out if out.frames_received else None,
                packet_loss_pct=rtp.packet_loss_pct,
                ttff_s=ttff,
            ),
        }

    # ------------------------------------------------------------------- close

    def disconnect(self) -> None:
        """Close the session and everything it owns. Synchronous, idempotent, never raises."""
        with self._close_lock:
            if self._released:
                return
            self._released = True
        was_closed = self._closed
        self._closed = True
        if media_loop.in_loop_thread():
            # called from an event handler: finish on another thread
            threading.Thread(target=self._close_blocking, args=(was_closed,), name="decart-disconnect", daemon=True).start()
            return
        self._close_blocking(was_closed)

    def _close_blocking(self, was_closed: bool) -> None:
        try:
            media_loop.run_sync(self._teardown(final_event=not was_closed), timeout=20)
        except Exception:  # noqa: BLE001 - disconnect never raises
            log.warning("session teardown did not finish cleanly", exc_info=True)
        finally:
            self._events.clear()
            media_loop.release()

    async def _teardown(self, final_event: bool = False) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self._loop.run_in_executor(None, self._hub.close)
        sup = self._supervisor
        if sup is not None and sup is not asyncio.current_task():
            sup.cancel()
            try:
                await sup
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        self._pump.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if final_event:
            self._set_state(ConnectionState.DISCONNECTED)

    async def __aenter__(self) -> RealtimeSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        return f"<RealtimeSession model={self.model.name!r} state={self._state.value} session_id={self._session_id!r}>"


_CONNECT_TOKEN = object()


class _frames_only:
    """Wraps a FrameIterator to yield arrays without their info."""

    def __init__(self, it: Any) -> None:
        self._it = it

    def __aiter__(self) -> _frames_only:
        return self

    async def __anext__(self) -> np.ndarray:
        frame, _ = await self._it.__anext__()
        return frame

    def close(self) -> None:
        self._it.close()


def _check_base_url(url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidBaseURLError(f"base_url must be a ws:// or wss:// URL, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidBaseURLError(
            f"base_url must be a ws:// or wss:// URL with a host, got {redact_url(url)!r}"
        )
    return url.rstrip("/")


async def _parse_initial_state(initial: dict[str, Any] | None) -> StateSpec | None:
    if initial is None:
        return None
    if not isinstance(initial, dict):
        raise InvalidInputError("initial_state must be a dict like {'prompt': {'text': ..., 'enhance': True}, 'image': ...}")
    unknown = set(initial) - {"prompt", "image"}
    if unknown:
        raise InvalidInputError(f"initial_state has unknown keys {sorted(unknown)}; accepted: 'prompt', 'image'")
    prompt = initial.get("prompt")
    text, enhance = None, True
    if isinstance(prompt, str):
        text = _check_prompt(prompt, "initial_state prompt")
    elif isinstance(prompt, dict):
        text = _check_prompt(prompt.get("text"), "initial_state prompt text")
        enhance = _check_bool(prompt.get("enhance", True), "initial_state prompt enhance")
    elif prompt is not None:
        raise InvalidInputError("initial_state['prompt'] must be {'text': str, 'enhance': bool} or a string")
    image = initial.get("image")
    image_b64 = await load_image_b64(image) if image is not None else None
    if text is None and image_b64 is None:
        return StateSpec()  # explicit passthrough
    return StateSpec(text, enhance, image_b64)


def decode_subscribe_token(token: Any) -> tuple[str, str, int]:
    """(session id, server ip, server port) from a subscribe token (URL-safe or
    standard base64 of ``{"sid", "ip", "port"}``)."""
    if not isinstance(token, str) or not token.strip():
        raise InvalidInputError("subscribe token must be a non-empty string (a session's subscribe_token)")
    text = token.strip()
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
        data = json.loads(raw)
        sid, ip, port = data["sid"], data["ip"], data["port"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"invalid subscribe token: {exc}") from exc
    if not isinstance(sid, str) or not sid or not isinstance(ip, str) or isinstance(port, bool) or not isinstance(port, int):
        raise InvalidInputError("invalid subscribe token: needs sid (str), ip (str) and port (int)")
    return sid, ip, port
