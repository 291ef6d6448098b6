"""Fan-out of model output frames to the widget's transports.

The widget registers :meth:`OutputHub.push` as a listener on each session it
connects (a model switch replaces the session, not the hub), and transports
subscribe to the hub. Runs on the media loop for every frame: keep
subscribers cheap (store the frame, wake a worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["OutputHub"]

Listener = Callable[[Any, "int | None"], None]


class OutputHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener not in self._subscribers:
                self._subscribers = (*self._subscribers, listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s != listener)

    def push(self, frame: Any, counter: int | None) -> None:
        for listener in self._subscribers:
            listener(frame, counter)
