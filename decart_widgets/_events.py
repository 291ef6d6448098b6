"""Session events: registration by name, delivery off the caller's thread,
and the events raised while ``connect()`` ran held for the first handlers.

Sync handlers run on the media loop thread (keep them quick; use frame taps
for heavy work); coroutine handlers run on the event loop that registered
them. A handler that raises is logged and does not stop delivery.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidInputError

log = logging.getLogger(__name__)

__all__ = ["EventEmitter"]

#: How long events raised during connect wait for a handler to be registered.
HELD_EVENTS_TTL = 10.0


class EventEmitter:
    def __init__(self, names: tuple[str, ...], loop: asyncio.AbstractEventLoop) -> None:
        self._names = names
        self._loop = loop  # the media loop, where emit() is called
        self._lock = threading.Lock()
        self._handlers: dict[str, list[tuple[Callable[..., Any], asyncio.AbstractEventLoop | None]]] = {
            n: [] for n in names
        }
        self._holding = False
        self._held: dict[str, list[tuple[Any, ...]]] = {}
        self._held_until = 0.0

    def _check(self, name: str) -> None:
        if name not in self._names:
            raise InvalidInputError(
                f"unknown event {name!r}; events are: {', '.join(self._names)}"
            )

    def on(self, name: str, handler: Callable[..., Any]) -> None:
        self._check(name)
        if not callable(handler):
            raise InvalidInputError(f"event handler must be callable, got {type(handler).__name__}")
        try:
            owner = asyncio.get_running_loop() if inspect.iscoroutinefunction(handler) else None
        except RuntimeError:
            owner = None
        with self._lock:
            self._handlers[name].append((handler, owner))
            replay = self._held.pop(name, []) if time.monotonic() < self._held_until else []
        for args in replay:
            self._loop.call_soon_threadsafe(self._call, handler, owner, args)

    def off(self, name: str, handler: Callable[..., Any]) -> None:
        self._check(name)
        with self._lock:
            self._handlers[name] = [(h, o) for h, o in self._handlers[name] if h is not handler]

    def hold(self) -> None:
        """Keep events from now on for handlers registered later (during connect)."""
        with self._lock:
            self._holding = True
            self._held.clear()

    def release_held(self) -> None:
        """Stop holding; what was held waits ``HELD_EVENTS_TTL`` for its first handler."""
        with self._lock:
            self._holding = False
            self._held_until = time.monotonic() + HELD_EVENTS_TTL

    def emit(self, name: str, *args: Any) -> None:
        with self._lock:
            handlers = list(self._handlers[name])
            if self._holding and not handlers:
                self._held.setdefault(name, []).append(args)
        for handler, owner in handlers:
            self._call(handler, owner, args)

    def _call(self, handler: Callable[..., Any], owner: asyncio.AbstractEventLoop | None, args: tuple[Any, ...]) -> None:
        try:
            if inspect.iscoroutinefunction(handler):
                target = owner if owner is not None and not owner.is_closed() else self._loop
                asyncio.run_coroutine_threadsafe(self._guard(handler(*args)), target)
            else:
                handler(*args)
        except Exception:  # noqa: BLE001 - one bad handler must not stop the rest
            log.exception("event handler %r raised", handler)

    @staticmethod
    async def _guard(coro: Any) -> None:
        try:
            await coro
        except Exception:  # noqa: BLE001
            log.exception("async event handler raised")

    def clear(self) -> None:
        with self._lock:
            for handlers in self._handlers.values():
                handlers.clear()
            self._held.clear()
