"""``RealtimeSession``: a live connection to a realtime model. It wires the
pieces of this package together and holds the public API:

- :mod:`._args` checks the arguments, :mod:`._keys` finds the key;
- :mod:`._supervisor` runs the state machine and reconnects, opening
  attempts (:mod:`._attempt`) through :mod:`._connector`, each with a media
  link (:mod:`._webrtc_link` or :mod:`._livekit_link`);
- :mod:`._sender` paces the source and keeps the acknowledged state (a
  view-only session has none);
- :mod:`._frame_access` and the frame hub serve taps, snapshots and
  recordings; :mod:`._stats` the statistics.

Every coroutine here runs on the background media loop; the public
coroutines hop there from whatever loop awaits them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .._events import EventEmitter
from .._version import __version__
from ..common.media_loop import media_loop
from ..errors import (
    DecartError,
    InvalidInputError,
    SessionClosedError,
)
from ..images import ImageInput, load_image_b64
from ..media.forwarding import EncodedFeed
from ..media.frames import FrameHub
from ..media.meters import LatencyMeter
from ..media.output import OutputSink
from ..media.sources import Source, TestPatternSource
from ..models import ModelDefinition, get_model
from . import _args as A
from ._connector import Connector
from ._frame_access import FrameAccess
from ._keys import GetToken, KeySource
from ._link import LinkSettings
from ._sender import Sender
from ._stats import SessionStats, TransportSample
from ._supervisor import RECONNECT_DELAYS, LinkSupervisor
from ._types import ConnectionState, StateSpec
from ._watch import decode_subscribe_token

log = logging.getLogger(__name__)

__all__ = ["RealtimeSession", "DEFAULT_BASE_URL", "EVENTS"]

#: Production endpoint of the current generation (Python SDK 0.2.4).
DEFAULT_BASE_URL = "wss://api.decart.ai"
EVENTS = ("connection_change", "generation_tick", "generation_ended", "queue", "error", "stats")
_UNSET: Any = object()
_CONNECT_TOKEN = object()


def _common_options(
    args: A.ConnectArgs,
    api_key: str | None,
    get_token: GetToken | None,
    reconnect_delays: tuple[float, ...],
    handlers: dict[str, Callable[..., Any]] | None,
) -> dict[str, Any]:
    """The constructor arguments ``connect()`` and ``subscribe()`` share."""
    return {
        "base_url": args.base_url,
        "keys": KeySource(api_key, get_token, loopback=args.settings.loopback),
        "media": args.media,
        "settings": args.settings,
        "reconnect": args.reconnect,
        "reconnect_delays": tuple(reconnect_delays),
        "query": args.query,
        "handlers": A.check_handlers(handlers, EVENTS),
    }


class RealtimeSession(FrameAccess):
    """A connected realtime session. Create one with :meth:`connect` (or
    :meth:`subscribe` to watch another session)."""

    def __init__(self, *, _token: object = None, **kwargs: Any) -> None:
        if _token is not _CONNECT_TOKEN:
            raise TypeError("use `await RealtimeSession.connect(...)` to create a session")
        self._init(**kwargs)

    def _init(
        self,
        *,
        model: ModelDefinition,
        source: Source | None,
        mirror: bool | str,
        base_url: str,
        keys: KeySource,
        media: str,
        settings: LinkSettings,
        reconnect: bool,
        reconnect_delays: tuple[float, ...],
        query: dict[str, str],
        user_agent: str | None,
        handlers: dict[str, Callable[..., Any]],
        watch: Any = None,
    ) -> None:
        self.model = model
        self._timeouts = settings.timeouts
        self._loop = media_loop.acquire()
        self._released = False
        self._closed = False
        self._close_lock = threading.Lock()
        #: Set once the teardown finished (a second disconnect() waits for it).
        self._closed_done = threading.Event()
        self._first_task: asyncio.Task[Any] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._events = EventEmitter(EVENTS, self._loop)
        for name, handler in handlers.items():
            self._events.on(name, handler)
        self.last_error: DecartError | None = None
        # the path of a frame: source -> pump -> link -> model -> link -> output sink -> hub
        latency = LatencyMeter()
        self._hub = FrameHub(self._loop, model.fps, latency, self._report)
        #: None for a view-only session (subscribe): it sends nothing.
        self._sender = Sender(model, source, mirror, self._hub, latency) if source is not None else None
        sender = self._sender
        pump = sender.pump if sender is not None else None
        self.output = OutputSink(latency, on_frame=self._hub.on_output)
        self._encoded_output = EncodedFeed(pixels_wanted=self._hub.needs_output_pixels)
        self._connector = Connector(
            base_url=base_url,
            keys=keys,
            model=model,
            media=media,
            settings=settings,
            upstream=pump,
            deliver=self.output.push,
            output_feed=self._encoded_output, arrived=self.output.arrived, deliver_decoded=self.output.decoded,
            user_agent=user_agent or f"decart-widgets/{__version__} lang/py",
            query=query,
            watch=watch,
        )
        self._supervisor = LinkSupervisor(
            connector=self._connector,
            events=self._events,
            timeouts=settings.timeouts,
            reconnect=reconnect,
            delays=reconnect_delays,
            restore=sender.acked.restore if sender is not None else lambda: None,
            report=self._report,
            on_finished=self.disconnect,
        )
        self._stats = SessionStats(
            sink=self.output, pump=pump, hub=self._hub, supervisor=self._supervisor, started_at=time.perf_counter(),
            encoded_output=self._encoded_output,
        )

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
        media: str = "auto",
        codec: str | None = None,
        bitrate: int | None = _UNSET,
        resolution: str | None = None,
        speed: str | None = None,
        prompt_timeout: float = 15.0,
        image_timeout: float = 30.0,
        connect_timeout: float = 300.0,
        reconnect: bool = True,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
        user_agent: str | None = None,
        query: dict[str, str] | None = None,
        mirror: bool | str = False,
        handlers: dict[str, Callable[..., Any]] | None = None,
    ) -> RealtimeSession:
        """Connect to a realtime model and return the live session.

        ``initial_state`` is ``{"prompt": {"text": str, "enhance": bool}, "image": ImageInput}``
        (either part optional); it is acknowledged before media starts.

        ``media`` picks the link to the model: ``"livekit"`` (Decart's current
        generation: a LiveKit room, codecs in native code), ``"webrtc"`` (the
        legacy offer/answer flow over aiortc) or ``"auto"`` (LiveKit for
        Decart's service; for the local server, see the README). ``codec`` is
        the publish codec: ``"h264"`` (LiveKit's default), ``"vp8"`` (aiortc's
        default) or ``"vp9"`` (LiveKit only). ``bitrate`` caps the upstream
        bits/s (default 2.5 Mbps at 1280x720, scaled by frame area; ``None``
        leaves it to the encoder). ``resolution`` (``"720p"``/``"1080p"``) and
        ``speed`` (``"fast"``) are passed to Decart's endpoint.

        ``mirror`` flips upstream frames (``"auto"``: when the source is a
        selfie camera). The key comes from ``api_key``, else ``get_token()``
        (called again on each reconnect), else ``$DECART_API_KEY``; a loopback
        ``base_url`` (the local server) needs none. ``handlers`` (event name →
        handler, as :meth:`on`) are registered before connecting, so they see
        what happens while ``connect()`` runs as it happens (``queue``
        positions, say); handlers registered later get those events replayed.
        """
        model_def = get_model(model)
        source = TestPatternSource() if source is None else A.check_source(source)
        args = A.check_connect(
            model_def, base_url=base_url if base_url is not None else DEFAULT_BASE_URL,
            api_key=api_key, get_token=get_token, media=media, codec=codec,
            bitrate=None if bitrate is _UNSET else bitrate, default_bitrate=bitrate is _UNSET,
            resolution=resolution, speed=speed, query=query, reconnect=reconnect,
            timeouts=(prompt_timeout, image_timeout, connect_timeout),
        )
        mirror = A.check_mirror(mirror)
        initial = await A.parse_initial_state(initial_state)
        session = cls(
            _token=_CONNECT_TOKEN, model=model_def, source=source, mirror=mirror, user_agent=user_agent,
            **_common_options(args, api_key, get_token, reconnect_delays, handlers),
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
        media: str = "auto",
        connect_timeout: float = 300.0,
        reconnect: bool = True,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
        handlers: dict[str, Callable[..., Any]] | None = None,
    ) -> RealtimeSession:
        """Watch a running session's output, view-only.

        ``token`` is the other session's :attr:`subscribe_token`, in either
        generation's form: ``{room_name}`` (LiveKit: the room is joined with a
        subscribe-only token from ``POST /watch-stream/{room_name}``) or
        ``{sid, ip, port}`` (legacy: ``/subscribe/{sid}`` over aiortc). The
        returned session has the output side of the API (``on_frame``,
        ``snapshot``, ``frames``, ``record``, ``stats``, events); it sends no
        video and refuses prompt and image changes.
        """
        watch = decode_subscribe_token(token)
        args = A.check_connect(
            None, base_url=base_url if base_url is not None else DEFAULT_BASE_URL,
            api_key=api_key, get_token=get_token, media=media, reconnect=reconnect,
            timeouts=(15.0, 30.0, connect_timeout), watch=watch,
        )
        session = cls(
            _token=_CONNECT_TOKEN, model=get_model("lucy-2.1"), source=None, mirror=False, user_agent=None,
            watch=watch, **_common_options(args, api_key, get_token, reconnect_delays, handlers),
        )
        return await session._launch(None)

    async def _launch(self, initial: StateSpec | None) -> RealtimeSession:
        """Connect for the first time (on the media loop); on failure or
        cancellation release everything before raising."""
        try:
            await media_loop.run(self._first_connect(initial))
        except BaseException:
            self.disconnect()
            raise
        return self

    async def _first_connect(self, initial: StateSpec | None) -> None:
        self._first_task = asyncio.current_task()
        self._events.hold()
        try:
            await self._supervisor.first_connect(initial)
        finally:
            self._events.release_held()
        if initial is not None and self._sender is not None:
            self._sender.acked.accepted(initial)
        self._tasks.append(self._loop.create_task(
            self._stats.run(lambda s: self._events.emit("stats", s), self._sample), name="decart-session-stats"
        ))
        if self._sender is not None:
            self._tasks.append(self._loop.create_task(
                self._sender.run_pacing(self.output, self._supervisor), name="decart-session-pacing"
            ))

    async def _sample(self) -> TransportSample | None:
        link = self._supervisor.current_link()
        if link is None or not self._supervisor.link_up.is_set():
            return None
        return await link.sample()

    def _report(self, error: DecartError) -> None:
        self.last_error = error
        self._events.emit("error", error)

    # ------------------------------------------------------------------ public

    @property
    def view_only(self) -> bool:
        """True for a session made by :meth:`subscribe`."""
        return self._sender is None

    @property
    def encoded_output(self) -> EncodedFeed:
        """The model's frames as they arrived encoded (aiortc link only), to
        send on without decoding (the widget's WebRTC views do); the output is
        decoded only while taps, pairs, snapshots, ``frames()`` or recordings
        need pixels, or nothing forwards it."""
        return self._encoded_output

    @property
    def media(self) -> str:
        """The media link in use: ``"livekit"`` or ``"webrtc"``."""
        return self._connector.media

    @property
    def connection_state(self) -> str:
        """One of ``connecting``, ``connected``, ``generating``, ``reconnecting``, ``disconnected``."""
        return self._supervisor.state.value

    @property
    def session_id(self) -> str | None:
        info = self._supervisor.info
        return info.session_id if info is not None else None

    @property
    def subscribe_token(self) -> str | None:
        """Token a viewer passes to :meth:`subscribe` to watch this session's
        output, in the form of this session's generation."""
        info = self._supervisor.info
        return info.subscribe_token if info is not None else None

    @property
    def prompt(self) -> str | None:
        """The last prompt the server acknowledged."""
        return self._sender.acked.spec.prompt if self._sender is not None else None

    @property
    def queue_position(self) -> tuple[int, int] | None:
        """``(position, queue_size)`` of the last ``queue_position`` the server sent, if any."""
        return self._supervisor.queue

    @property
    def generation_seconds(self) -> int:
        return self._supervisor.generation_seconds

    @property
    def connect_time_s(self) -> float | None:
        return self._supervisor.connect_time_s

    @property
    def reconnects(self) -> int:
        return self._supervisor.reconnects

    def is_connected(self) -> bool:
        return self._supervisor.state in (ConnectionState.CONNECTED, ConnectionState.GENERATING)

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a handler: ``connection_change(state)``, ``generation_tick(seconds)``,
        ``generation_ended(reason, seconds)``, ``queue(position, queue_size)``,
        ``error(exc)``, ``stats(dict)`` (about once a second)."""
        self._events.on(event, handler)

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        self._events.off(event, handler)

    def _check_open(self) -> None:
        if self._closed or self._supervisor.closed:
            raise SessionClosedError(
                "this session is disconnected; create a new one with RealtimeSession.connect()"
            )

    def _check_sender(self) -> Sender:
        if self._sender is None:
            raise InvalidInputError("this session only watches another one (subscribe): it cannot send prompts, images or video")
        return self._sender

    async def set(self, *, prompt: str | None = None, image: ImageInput = _UNSET, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace prompt and/or reference image atomically; returns once acknowledged.

        ``image=None`` clears the reference image.
        """
        self._check_open()
        self._check_sender()
        if prompt is None and image is _UNSET:
            raise InvalidInputError("set() needs at least one of prompt= or image=")
        if prompt is not None:
            A.check_prompt(prompt)
        A.check_bool(enhance, "enhance")
        image_b64 = None if image is _UNSET or image is None else await load_image_b64(image)
        await self._apply(StateSpec(prompt, enhance, image_b64), image=image is not _UNSET, timeout=timeout)

    async def set_prompt(self, text: str, *, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace the text prompt; returns once the server acknowledged it."""
        self._check_open()
        self._check_sender()
        A.check_prompt(text)
        A.check_bool(enhance, "enhance")
        await self._apply(StateSpec(text, enhance, None), image=False, timeout=timeout)

    async def set_image(self, image: ImageInput | None, *, prompt: str | None = None, enhance: bool = True, timeout: float | None = None) -> None:
        """Replace (or with ``None`` clear) the reference image, optionally with a prompt."""
        self._check_open()
        self._check_sender()
        if prompt is not None:
            A.check_prompt(prompt)
        A.check_bool(enhance, "enhance")
        image_b64 = None if image is None else await load_image_b64(image)
        await self._apply(StateSpec(prompt, enhance, image_b64), image=True, timeout=timeout)

    async def _apply(self, spec: StateSpec, *, image: bool, timeout: float | None) -> None:
        if timeout is not None:
            A.check_seconds(timeout, "timeout")
        limit = timeout or (self._timeouts.image if image else self._timeouts.prompt)
        await media_loop.run(self._apply_on_loop(spec, image, limit))

    async def _apply_on_loop(self, spec: StateSpec, image: bool, limit: float) -> None:
        sender = self._check_sender()
        channel = await self._supervisor.channel_when_up(limit)
        self._check_open()
        await sender.acked.apply(channel, spec, image=image, limit=limit)

    def replace_source(self, source: Source) -> None:
        """Swap the upstream source between two frames, without reconnecting."""
        self._check_open()
        self._check_sender().replace_source(source)

    def stats(self) -> dict[str, Any]:
        """Frame rates, bitrates, RTT, loss, latency, the media link and a quality verdict."""
        return self._stats.snapshot()

    # ------------------------------------------------------------------- close

    def disconnect(self) -> None:
        """Close the session and everything it owns. Synchronous, idempotent,
        never raises; it returns once everything is closed, except when called
        on the media loop itself (from an event handler), where it cannot
        wait: the teardown then finishes in the background."""
        with self._close_lock:
            released, self._released = self._released, True
        if released:
            if not media_loop.in_loop_thread():
                # another caller's teardown may still run: return once it is done
                self._closed_done.wait(20)
            return
        final_event = not (self._closed or self._supervisor.closed)
        self._closed = True
        if media_loop.in_loop_thread():
            self._tasks.append(self._loop.create_task(self._close_on_loop(final_event), name="decart-session-close"))
            return
        try:
            media_loop.run_sync(self._teardown(final_event), timeout=20)
        except Exception:  # noqa: BLE001 - disconnect never raises, but says why
            log.warning("session teardown did not finish cleanly", exc_info=True)
        finally:
            self._events.clear()
            media_loop.release()
            self._closed_done.set()

    async def _close_on_loop(self, final_event: bool) -> None:
        try:
            await self._teardown(final_event)
        except Exception:  # noqa: BLE001 - disconnect never raises, but says why
            log.warning("session teardown did not finish cleanly", exc_info=True)
        finally:
            self._events.clear()
            self._closed_done.set()
            media_loop.release()

    async def _teardown(self, final_event: bool) -> None:
        current = asyncio.current_task()
        first = self._first_task
        if first is not None and first is not current and not first.done():
            first.cancel()  # disconnect() while connect() still runs
            await asyncio.wait({first}, timeout=10)
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self._loop.run_in_executor(None, self._hub.close)
        await self._supervisor.stop(final_event=final_event)
        if self._sender is not None:
            self._sender.stop()
        await self._connector.close()
        self._encoded_output.close()

    async def __aenter__(self) -> RealtimeSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        return (
            f"<RealtimeSession model={self.model.name!r} media={self.media} "
            f"state={self.connection_state} session_id={self.session_id!r}>"
        )
