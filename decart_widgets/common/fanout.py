"""Fan-out: one stream of items handed to every subscriber.

The subscribers are kept in an immutable tuple replaced on every change, so
``emit`` (called per frame, on the media loop) iterates without a lock while
other threads subscribe and unsubscribe. Subscribers must be cheap: they
run in the emitter's thread (keep the item, wake a worker of their own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["FanOut"]

S = TypeVar("S", bound=Callable[..., Any])


class FanOut(Generic[S]):
    """Subscribers of one stream; ``emit(*args)`` calls each, in subscription order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[S, ...] = ()
        self._watchers: tuple[Callable[[int], None], ...] = ()

    def watch(self, watcher: Callable[[int], None]) -> None:
        """Call ``watcher(count)`` after the subscribers changed (in the
        changing thread): e.g. to produce the stream only while someone takes it."""
        with self._lock:
            self._watchers = (*self._watchers, watcher)

    def unwatch(self, watcher: Callable[[int], None]) -> None:
        """Stop calling ``watcher`` (one added by :meth:`watch`)."""
        with self._lock:
            self._watchers = tuple(w for w in self._watchers if w != watcher)

    def _changed(self) -> None:
        count = len(self._subscribers)
        for watcher in self._watchers:
            watcher(count)

    def subscribe(self, subscriber: S) -> None:
        """Add ``subscriber`` (once: subscribing it again changes nothing)."""
        with self._lock:
            if subscriber in self._subscribers:
                return
            self._subscribers = (*self._subscribers, subscriber)
        self._changed()

    def unsubscribe(self, subscriber: S) -> bool:
        """Remove ``subscriber``; True if it was subscribed."""
        with self._lock:
            kept = tuple(s for s in self._subscribers if s != subscriber)
            found = len(kept) != len(self._subscribers)
            self._subscribers = kept
        if found:
            self._changed()
        return found

    def remove_where(self, predicate: Callable[[S], bool]) -> list[S]:
        """Remove and return the subscribers ``predicate`` picks."""
        with self._lock:
            gone = [s for s in self._subscribers if predicate(s)]
            self._subscribers = tuple(s for s in self._subscribers if not predicate(s))
        if gone:
            self._changed()
        return gone

    def clear(self) -> tuple[S, ...]:
        """Remove and return every subscriber."""
        with self._lock:
            gone, self._subscribers = self._subscribers, ()
        if gone:
            self._changed()
        return gone

    def emit(self, *args: Any) -> None:
        for subscriber in self._subscribers:
            subscriber(*args)

    def __iter__(self) -> Iterator[S]:
        return iter(self._subscribers)

    def __len__(self) -> int:
        return len(self._subscribers)

    def __bool__(self) -> bool:
        return bool(self._subscribers)
