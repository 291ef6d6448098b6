"""The widget's session lifecycle on the media loop: connect, disconnect,
model switches (disconnect + connect with the same prompt and image) and
prompt/image updates, serialized by one lock so they never interleave.

The runner connects each session with the browser camera as its source
(as captured: the widget mirrors in the browser) and relays the
session's output frames, as received, and its events to the widget through
a :class:`~decart_widgets.widget._session_feed.SessionFeed`. The feed's
output relay is registered only while the output fan-out has subscribers
(the comm transport, a WebRTC view that sends decoded frames): with none,
the session does not decode its output (its WebRTC views forward the
encoded frames).

The local server, when the widget uses it, is started here on first connect
and closed by :meth:`SessionRunner.close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..common.fanout import FanOut
from ..errors import DecartError, InvalidInputError
from ..media.browser import BrowserCameraSource
from ..models import ModelDefinition
from ..session import RealtimeSession
from ._server_choice import ServerChoice
from ._session_feed import SessionFeed
from ._webrtc_transport import OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["SessionRunner", "Desired", "Applied"]


@dataclass(frozen=True)
class Applied:
    """What the live session was last given (applied or rejected: not retried)."""

    prompt: str
    enhance: bool
    image_version: int


@dataclass
class Desired:
    """What the user asked for; applied to the live session, newest wins."""

    prompt: str = ""
    enhance: bool = True
    image: Any = None  # an ImageInput: bytes, path, array, ...
    #: Bumped on every image change (images are compared by version, not content).
    image_version: int = 0

    def snapshot(self) -> Applied:
        return Applied(self.prompt, self.enhance, self.image_version)


class SessionRunner:
    """Holds the widget's one live session (or none) and applies what the user asks.

    :param choice: the server and key to connect with.
    :param source: the browser camera every session reads.
    :param output: where each session's output frames go (the widget's transports).
    """

    def __init__(
        self,
        choice: ServerChoice,
        source: BrowserCameraSource,
        output: FanOut[OutputSubscriber],
        *,
        local_model: Any = None,
        media: str = "auto",
        on_queue: Callable[[str], None] = lambda text: None,
        on_state: Callable[[str], None],
        on_tick: Callable[[int], None],
        on_error: Callable[[DecartError | None], None],
        on_session: Callable[[RealtimeSession | None], None],
        on_ended: Callable[[], None],
    ) -> None:
        self._choice = choice
        self._source = source
        self._output = output
        self._local_model = local_model
        self._media = media
        self._on_queue = on_queue
        #: The RealtimeSession.connect() running now: stop() and close() cancel it.
        self._connecting: asyncio.Task[RealtimeSession] | None = None
        #: stop() calls so far: a start() queued before a stop() does not connect.
        self._stops = 0
        self._on_state, self._on_tick = on_state, on_tick
        self._on_error, self._on_session = on_error, on_session
        self._on_ended = on_ended
        self._lock: asyncio.Lock | None = None
        self.session: RealtimeSession | None = None
        self.server: Any = None  # LocalServer when the widget owns one
        self.desired = Desired()
        self._applied: Applied | None = None
        self._apply_task: asyncio.Task[None] | None = None
        self._closed = False
        #: The live session's relay (None with no session).
        self._feed: SessionFeed | None = None

    # ------------------------------------------------------------ helpers

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _base_url(self) -> str:
        if self._choice.kind != "local":
            assert self._choice.base_url is not None
            return self._choice.base_url
        if self.server is None:
            from ..server import LocalServer

            server = LocalServer(model=self._local_model)
            await asyncio.to_thread(server.start_background)
            self.server = server
        return str(self.server.url)

    def _initial_state(self) -> dict[str, Any] | None:
        d = self.desired
        initial: dict[str, Any] = {}
        if d.prompt.strip():
            initial["prompt"] = {"text": d.prompt, "enhance": d.enhance}
        if d.image is not None:
            initial["image"] = d.image
        return initial or None

    # ---------------------------------------------------------- lifecycle

    async def start(self, model: ModelDefinition) -> None:
        stops = self._stops
        async with self._get_lock():
            # a stop() asked for after this start() wins, even if it waits behind it
            if self._closed or self.session is not None or stops != self._stops:
                return
            await self._connect(model)

    async def _connect(self, model: ModelDefinition) -> None:
        self._on_error(None)
        self._on_state("connecting")
        applied = self.desired.snapshot()
        try:
            base_url = await self._base_url()
            self._connecting = asyncio.get_running_loop().create_task(RealtimeSession.connect(
                model,
                source=self._source,
                base_url=base_url,
                api_key=self._choice.api_key,
                get_token=self._choice.get_token,
                initial_state=self._initial_state(),
                # as captured: mirroring is the browser's, for display (a
                # mirror here would decode and re-encode every camera frame)
                mirror=False,
                media=self._media,
                handlers={"queue": lambda position, size: self._on_queue(f"queued: {position} of {size}")},
            ))
            session = await self._connecting
        except asyncio.CancelledError:
            connecting = self._connecting
            if connecting is None or not connecting.cancelled():
                raise  # this task itself was cancelled
            # stop() or close() while connecting: the session released what it held
            self._on_state("disconnected")
            return
        except DecartError as exc:
            self._connect_failed(exc)
            return
        except Exception as exc:  # noqa: BLE001 - shown in the banner, not lost in a log
            log.warning("connect failed", exc_info=True)
            self._connect_failed(DecartError(f"connect failed: {exc}"))
            return
        finally:
            self._connecting = None
            self._on_queue("")
        if self._closed:
            await asyncio.to_thread(session.disconnect)
            return
        try:
            self._feed = SessionFeed(session, self._output, on_state=self._session_state(session),
                                     on_tick=self._on_tick, on_error=self._session_error(session))
        except DecartError as exc:  # it ended already
            self._connect_failed(exc)
            return
        self._applied = applied
        self.session = session
        self._on_session(session)
        self._on_state(session.connection_state)
        self._kick_apply()  # anything typed while connecting

    def _connect_failed(self, error: DecartError) -> None:
        self._on_error(error)
        self._on_state("disconnected")
        self._on_ended()

    def _session_state(self, session: RealtimeSession) -> Callable[[str], None]:
        def handler(state: str) -> None:
            if session is not self.session:
                return  # a session we are closing ourselves
            if state == "disconnected":
                # it ended on its own (reconnects failed, key rejected, ...)
                # and closes itself, its taps included (the feed stops there)
                self.session = None
                self._feed = None
                self._on_session(None)
                self._on_state(state)
                self._on_ended()
                return
            self._on_state(state)
        return handler

    def _session_error(self, session: RealtimeSession) -> Callable[[DecartError], None]:
        def handler(error: DecartError) -> None:
            if session is self.session:
                self._on_error(error)
        return handler

    def _cancel_connect(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()

    async def stop(self) -> None:
        self._stops += 1
        self._cancel_connect()
        async with self._get_lock():
            await self._disconnect()

    async def _disconnect(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        feed, self._feed = self._feed, None
        if feed is not None:
            # first: the views about to lose the encoded output must not
            # register relays on a session going away (joins the tap workers)
            await asyncio.to_thread(feed.detach)
        self._on_session(None)
        await asyncio.to_thread(session.disconnect)
        self._on_state("disconnected")

    async def restart(self, model: ModelDefinition) -> None:
        """Switch models: disconnect, then connect with the same prompt and image."""
        stops = self._stops
        async with self._get_lock():
            if self._closed:
                return
            await self._disconnect()
            if stops == self._stops:
                await self._connect(model)

    # ------------------------------------------------------------ updates

    def _kick_apply(self) -> None:
        if self._apply_task is None or self._apply_task.done():
            self._apply_task = asyncio.get_running_loop().create_task(self._apply_loop())

    async def request_apply(self) -> None:
        """Apply :attr:`desired` to the session (coalesced, in order)."""
        self._kick_apply()

    async def _apply_loop(self) -> None:
        while True:
            async with self._get_lock():
                session = self.session
                d = self.desired
                want = d.snapshot()
                if session is None or want == self._applied:
                    return
                image_changed = self._applied is None or want.image_version != self._applied.image_version
                try:
                    await self._apply_now(session, d.prompt, d.enhance, d.image, image_changed)
                except DecartError as exc:
                    self._on_error(exc)
                except Exception as exc:  # noqa: BLE001 - shown in the banner
                    log.warning("could not apply prompt/image", exc_info=True)
                    self._on_error(DecartError(str(exc)))
                else:
                    self._on_error(None)
                self._applied = want  # applied or rejected: do not retry the same input

    @staticmethod
    async def _apply_now(
        session: RealtimeSession, prompt: str, enhance: bool, image: Any, image_changed: bool
    ) -> None:
        text = prompt if prompt.strip() else None
        if image_changed:
            await session.set(prompt=text, image=image, enhance=enhance)
        elif text is not None:
            await session.set(prompt=text, enhance=enhance)

    async def set_image(self, image: bytes | None) -> bool:
        """A reference image from the browser (None clears it): applied at once
        with the current prompt, and kept for the next connect. Returns False
        when there is no session to apply it to yet; raises on rejection."""
        d = self.desired
        d.image = image
        d.image_version += 1
        async with self._get_lock():
            session = self.session
            if session is None:
                return False  # applied when the session connects
            await self._apply_now(session, d.prompt, d.enhance, d.image, True)
            self._applied = d.snapshot()
            return True

    async def set_now(self, prompt: str | None, enhance: bool, image: Any, image_given: bool) -> None:
        """``DecartLive.set``: apply at once and remember it as the desired
        state (a model switch restores it); raises on rejection."""
        async with self._get_lock():
            session = self.session
            if session is None:
                raise InvalidInputError("the widget is not connected; call connect() first")
            kwargs: dict[str, Any] = {"enhance": enhance}
            if prompt is not None:
                kwargs["prompt"] = prompt
            if image_given:
                kwargs["image"] = image
            await session.set(**kwargs)
            d = self.desired
            if prompt is not None:
                d.prompt = prompt
            d.enhance = enhance
            if image_given:
                d.image = image
                d.image_version += 1
            self._applied = d.snapshot()

    async def close(self) -> None:
        self._cancel_connect()
        async with self._get_lock():
            self._closed = True
            await self._disconnect()
            server, self.server = self.server, None
        if self._apply_task is not None and not self._apply_task.done():
            self._apply_task.cancel()
        if server is not None:
            await asyncio.to_thread(server.close)
