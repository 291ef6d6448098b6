"""A widget's hold on the media loop, and the one shutdown that ends it.

Each widget acquires the media loop when it is made and releases it once,
after its shutdown (transports, relays, session) has run on the loop. The
shutdown may be asked for from any thread: from a notebook cell (``close()``)
it runs on the loop and the caller waits for it, and the release then joins
the loop's thread when it was the last owner; from the loop's own thread (a
session event handler: the session ended, or a handler closing the widget)
it runs there as a task and releases the loop when done, which may then
stop itself. A second caller from another thread waits for the first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ..common.media_loop import media_loop

log = logging.getLogger(__name__)

__all__ = ["MediaLoopLease"]

Shutdown = Callable[[], Coroutine[Any, Any, None]]


class MediaLoopLease:
    """Holds one reference to the media loop until :meth:`end`.

    :param what: what holds it, for log lines ("widget").
    """

    def __init__(self, what: str = "widget") -> None:
        self._what = what
        self.loop = media_loop.acquire()
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        #: The shutdown task when it ran on the loop's own thread (tests await it).
        self.task: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        """True once the shutdown ran and the loop was released."""
        return self._done.is_set()

    def end(self, shutdown: Shutdown, timeout: float = 30.0) -> None:
        """Run ``shutdown()`` on the media loop once, then release the loop.
        Idempotent. From the loop's thread it is scheduled and this returns at
        once; from any other thread this returns when it has finished (or
        after ``timeout``)."""
        with self._lock:
            first, self._started = not self._started, True
        on_loop = media_loop.in_loop_thread()
        if not first:
            if not on_loop:
                self._done.wait(timeout)
            return
        if on_loop:
            self.task = self.loop.create_task(shutdown(), name=f"decart-{self._what}-close")
            self.task.add_done_callback(self._task_done)
            return
        try:
            media_loop.run_sync(shutdown(), timeout=timeout)
        except Exception:  # noqa: BLE001 - ending never raises; says what went wrong
            log.warning("%s close did not finish cleanly", self._what, exc_info=True)
        finally:
            media_loop.release()
            self._done.set()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s close did not finish cleanly", self._what, exc_info=task.exception())
        media_loop.release()
        self._done.set()
