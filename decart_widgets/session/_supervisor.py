"""The link supervisor: the session's state machine (docs/protocol.md
section 5), the current attempt, reconnects with backoff and the restore of
the last acknowledged state, and the watchdog that notices frozen output.

States: connecting → connected → generating (sticky), reconnecting on an
unexpected drop, disconnected at the end (final). Permanent errors and the
generation-ending reasons that a new connection cannot fix are not retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._events import EventEmitter
from ..errors import (
    DecartError,
    DecartTimeoutError,
    IceError,
    ServerError,
    WebSocketError,
    is_permanent_error,
)
from ..signaling import SignalingChannel
from ._types import ConnectionState, SessionInfo, StateSpec, Timeouts

if TYPE_CHECKING:
    from ._attempt import Attempt
    from ._connector import Connector
    from ._link import MediaLink

log = logging.getLogger(__name__)

__all__ = ["LinkSupervisor", "RECONNECT_DELAYS", "FROZEN_AFTER", "FINAL_GENERATION_ENDS"]

#: Delays before retries 1..5 (docs/protocol.md section 5).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 10.0)
#: Seconds without an output frame, after frames flowed, that count as frozen
#: media: the link is dropped and reconnected (checked every FROZEN_CHECK s).
FROZEN_AFTER = 2.0
FROZEN_CHECK = 0.5
#: ``generation_ended`` reasons a reconnect cannot fix.
FINAL_GENERATION_ENDS = ("insufficient_credits", "moderation_violation", "timeout")


class LinkSupervisor:
    def __init__(
        self,
        *,
        connector: Connector,
        events: EventEmitter,
        timeouts: Timeouts,
        reconnect: bool,
        delays: tuple[float, ...],
        restore: Callable[[], StateSpec | None],
        report: Callable[[DecartError], None],
        on_finished: Callable[[], None],
    ) -> None:
        self._connector = connector
        self._events = events
        self._timeouts = timeouts
        self._reconnect = reconnect
        self._delays = delays
        self._restore = restore
        self._report = report
        self._on_finished = on_finished
        self.state = ConnectionState.CONNECTING
        self.attempt: Attempt | None = None
        #: Set while an attempt is up; cleared while reconnecting.
        self.link_up = asyncio.Event()
        #: True once the session is over (given up, or disconnected).
        self.closed = False
        self.connect_time_s: float | None = None
        self.reconnects = 0
        self.generation_seconds = 0
        self.info: SessionInfo | None = None
        #: ``(position, queue_size)`` of the last ``queue_position``.
        self.queue: tuple[int, int] | None = None
        self._fatal: DecartError | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def media(self) -> str:
        return self._connector.media

    def current_link(self) -> MediaLink | None:
        attempt = self.attempt
        return attempt.link if attempt is not None else None

    async def channel_when_up(self, limit: float) -> SignalingChannel:
        """The current attempt's control socket, waiting up to ``limit`` s while reconnecting."""
        if not self.link_up.is_set():
            try:
                await asyncio.wait_for(self.link_up.wait(), limit)
            except asyncio.TimeoutError as exc:
                raise DecartTimeoutError("session is not connected (reconnecting)", phase="reconnect") from exc
        attempt = self.attempt
        if attempt is None or attempt.channel is None:
            raise WebSocketError("session is not connected")
        return attempt.channel

    # -- connecting --------------------------------------------------------

    async def first_connect(self, initial: StateSpec | None) -> None:
        t0 = time.perf_counter()
        await self._open(initial)
        self.connect_time_s = time.perf_counter() - t0
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._supervise(), name="decart-session-supervisor"),
            loop.create_task(self._watch_output(), name="decart-session-watchdog"),
        ]

    async def _open(self, state: StateSpec | None) -> None:
        """One attempt, within the connect timeout; on success it becomes the current one."""
        limit = self._timeouts.connect
        opened: list[Attempt] = []

        async def run() -> None:
            attempt = await self._connector.attempt(self._on_attempt_event)
            opened.append(attempt)
            self.attempt = attempt
            await attempt.open(state)

        try:
            await asyncio.wait_for(run(), limit)
        except BaseException as exc:
            for attempt in opened:
                await attempt.close()
                if self.attempt is attempt:
                    self.attempt = None
            if isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, DecartError):
                # wait_for's own timeout (a DecartTimeoutError from a step names its phase already)
                raise _timeout_error(opened[0].phase if opened else "key", limit, self.media) from exc
            raise
        self.link_up.set()
        if self.state is not ConnectionState.GENERATING:
            self._set_state(ConnectionState.CONNECTED)

    # -- state & events ----------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if state is self.state:
            return
        if self.state is ConnectionState.GENERATING and state is ConnectionState.CONNECTED:
            return  # generating is sticky
        self.state = state
        self._events.emit("connection_change", state.value)

    def _on_attempt_event(self, attempt: Attempt, kind: str, payload: Any) -> None:
        if attempt is not self.attempt:
            return  # a stale attempt being torn down
        if kind == "session_info":
            self.info = payload
        elif kind == "queue":
            self.queue = payload
            self._events.emit("queue", *payload)
        elif kind == "generation_started":
            if self.state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
                self._set_state(ConnectionState.GENERATING)
        elif kind == "generation_tick":
            self.generation_seconds = payload
            self._events.emit("generation_tick", payload)
        elif kind == "generation_ended":
            self._events.emit("generation_ended", payload.reason, payload.seconds)
            if payload.reason in FINAL_GENERATION_ENDS:
                self._fatal = ServerError(f"generation ended: {payload.reason} (after {payload.seconds} s)")
                self._report(self._fatal)
        elif kind == "error" and self.link_up.is_set():
            # errors while an attempt is still opening surface as its failure
            self._report(payload)

    # -- reconnect ---------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            attempt = self.attempt
            if attempt is None:
                return
            reason = await attempt.lost
            if self.closed:
                return
            self.link_up.clear()
            await attempt.settle()
            await attempt.close()
            fatal = self._fatal or attempt.fatal or (
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
        for attempt_no, delay in enumerate(self._delays, 1):
            await asyncio.sleep(delay)
            if self.closed:
                return False
            try:
                await self._open(self._restore())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure counts as a try
                last = exc
                log.info("reconnect attempt %d failed: %s", attempt_no, exc)
                if isinstance(exc, DecartError) and is_permanent_error(exc.message):
                    break
                continue
            self.reconnects += 1
            return True
        err = last if isinstance(last, DecartError) else WebSocketError(
            f"reconnect failed after {len(self._delays)} attempts: {last}"
        )
        self._finish(err)
        return False

    async def _watch_output(self) -> None:
        """Frozen media: frames flowed, then none for FROZEN_AFTER s while the
        socket stayed up, and no media packet arrived either (where the link
        can tell): under CPU pressure output can pause while packets still
        arrive, and reconnecting then only adds load."""
        packets: int | None = None
        packets_at = time.perf_counter()
        while True:
            await asyncio.sleep(FROZEN_CHECK)
            attempt = self.attempt
            if attempt is None or not self.link_up.is_set() or attempt.last_frame_at is None:
                continue
            now = time.perf_counter()
            count = attempt.link.media_received()
            if count is not None and count != packets:
                packets, packets_at = count, now
            silent = now - max(attempt.last_frame_at, packets_at if count is not None else 0.0)
            if silent > FROZEN_AFTER:
                log.info("no output frame for %.1f s; reconnecting", silent)
                attempt.link.mark_lost(IceError(f"output froze: no frame for {silent:.1f} s while the socket stayed up"))

    def _finish(self, error: DecartError) -> None:
        """Give up: final ``disconnected`` plus an ``error`` event."""
        self.closed = True
        self._report(error)
        self._set_state(ConnectionState.DISCONNECTED)
        self._on_finished()

    # -- closing -----------------------------------------------------------

    async def stop(self, *, final_event: bool) -> None:
        """End the tasks and the current attempt (on the media loop)."""
        self.closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # noqa: BLE001 - stopping regardless; say why
                log.warning("session task %s failed", task.get_name(), exc_info=True)
        attempt, self.attempt = self.attempt, None
        self.link_up.clear()
        if attempt is not None:
            await attempt.close()
        if final_event:
            self._set_state(ConnectionState.DISCONNECTED)


def _timeout_error(phase: str, limit: float, media: str) -> DecartError:
    if phase == "media":
        return IceError(
            f"{media} media did not connect within {limit:g} s (ICE never completed: "
            "is UDP blocked between here and the server?)"
        )
    return DecartTimeoutError(f"connect did not finish within {limit:g} s (stuck in {phase})", phase=phase)
