"""What the server saw, for tests: a bounded, thread-safe event log with waiters.

Every client message is recorded as ``{"seq", "t", "session_id", "type",
"source": "client", ...}`` with ``prompt``/``has_image`` where they apply
(never image data, never keys). Server-side lifecycle events use
``"source": "server"`` and types like ``stream_opened``, ``stream_live``,
``generation_started``, ``stream_closed``, ``fault``.

The server appends on its own loop; waiters may sit on any loop or thread, so
matches are delivered through :class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["EventLog", "Event", "Predicate"]

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class EventLog:
    def __init__(self, maxlen: int = 2000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._waiters: list[tuple[Predicate, int, concurrent.futures.Future[Event]]] = []

    def append(self, session_id: str, type_: str, *, source: str = "client", **fields: Any) -> Event:
        with self._lock:
            seq = next(self._seq)
            self._last_seq = seq
            event: Event = {"seq": seq, "t": time.time(), "session_id": session_id, "type": type_, "source": source}
            event.update(fields)
            self._events.append(event)
            waiters = list(self._waiters)
        for predicate, since, fut in waiters:
            if fut.done() or seq <= since:
                continue
            verdict = _matches(predicate, event)
            if verdict is not False:
                with self._lock:
                    if (predicate, since, fut) in self._waiters:
                        self._waiters.remove((predicate, since, fut))
                if not fut.done():
                    _settle(fut, verdict, event)
        return event

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def mark(self) -> int:
        """The sequence number of the newest event (0 when none): pass it as
        ``since`` to wait only for events recorded after this point."""
        with self._lock:
            return self._last_seq

    def future(self, predicate: Predicate, since: int = 0) -> concurrent.futures.Future[Event]:
        """A future resolved with the first event (already recorded or future)
        with ``seq > since`` for which ``predicate(event)`` is true."""
        fut: concurrent.futures.Future[Event] = concurrent.futures.Future()
        with self._lock:
            for event in self._events:
                verdict = _matches(predicate, event) if event["seq"] > since else False
                if verdict is not False:
                    _settle(fut, verdict, event)
                    return fut
            entry = (predicate, since, fut)
            self._waiters.append(entry)

        def _forget(_: object) -> None:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)

        fut.add_done_callback(_forget)
        return fut

    async def wait(self, predicate: Predicate, timeout: float, since: int = 0) -> Event:
        fut = self.future(predicate, since)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            fut.cancel()
            raise TimeoutError(self._timeout_message(timeout)) from None

    def wait_sync(self, predicate: Predicate, timeout: float, since: int = 0) -> Event:
        fut = self.future(predicate, since)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(self._timeout_message(timeout)) from None

    def _timeout_message(self, timeout: float) -> str:
        recent = [f"{e['type']}({e['source']})" for e in self.snapshot()[-12:]]
        return f"no matching server event within {timeout} s; recent events: {', '.join(recent) or 'none'}"


def _matches(predicate: Predicate, event: Event) -> bool | Exception:
    """Whether ``event`` matches, or the exception the predicate raised: a
    broken predicate fails its waiter at once instead of reading as "no
    match" until the wait times out."""
    try:
        return bool(predicate(event))
    except Exception as exc:  # noqa: BLE001 - handed to the waiter
        return exc


def _settle(fut: concurrent.futures.Future[Event], verdict: bool | Exception, event: Event) -> None:
    if isinstance(verdict, Exception):
        fut.set_exception(verdict)
    else:
        fut.set_result(event)
