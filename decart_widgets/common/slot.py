"""A newest-wins slot: at most one item waits; a newer one replaces it.

Frames flow from producers that must never wait (the media loop, a camera
thread, the kernel's comm thread) to consumers that may be slower (a tap's
worker, the JPEG encoder, a track's ``recv``). A slot keeps only the newest
item and counts the ones replaced before anyone took them, so a slow
consumer always gets the newest frame and never works through a backlog.

``put`` works from any thread and never blocks. A consumer takes with
``take`` (blocking a thread) or ``take_async`` (awaiting on any event loop);
``close`` drops what waits and wakes every consumer for good. Items must not
be ``None``: ``None`` is what a closed slot, or a wait that timed out, gives.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Generic, TypeVar

__all__ = ["LatestSlot"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class LatestSlot(Generic[T]):
    """One item at most, newest wins; thread-safe, with blocking and async takes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self._async_waiters: list[_Waiter] = []
        #: Items put in (while open).
        self.puts = 0
        #: Items replaced by a newer one before they were taken.
        self.replaced = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def __bool__(self) -> bool:
        """True while an item waits."""
        return self._item is not None

    # ------------------------------------------------------------- producer

    def put(self, item: T) -> bool:
        """Offer ``item``, replacing any waiting one; never blocks. False once closed."""
        if item is None:
            raise ValueError("a LatestSlot item cannot be None")
        with self._cond:
            if self._closed:
                return False
            self.puts += 1
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._cond.notify()
            waiters, self._async_waiters = self._async_waiters, []
        _wake(waiters)
        return True

    def clear(self) -> None:
        """Drop the waiting item (not counted as replaced)."""
        with self._cond:
            self._item = None

    def close(self) -> None:
        """Drop the waiting item and wake every consumer; later puts are ignored."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        _wake(waiters)

    # ------------------------------------------------------------- consumer

    def take_nowait(self) -> T | None:
        """The waiting item (now taken), or None."""
        with self._cond:
            item, self._item = self._item, None
            return item

    def take(self, timeout: float | None = None) -> T | None:
        """Block until an item waits and take it; None when closed or after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    async def take_async(self, timeout: float | None = None) -> T | None:
        """Await an item and take it; None when closed or after ``timeout``."""
        if await self._wait(timeout):
            return self.take_nowait()
        return None

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Await an item without taking it; False when closed or after ``timeout``."""
        return await self._wait(timeout)

    async def _wait(self, timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._cond:
                if self._closed:
                    return False
                if self._item is not None:
                    return True
                entry: _Waiter = (loop, loop.create_future())
                self._async_waiters.append(entry)
            try:
                if deadline is None:
                    await entry[1]
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        return False
                    await asyncio.wait_for(entry[1], left)
            except asyncio.TimeoutError:
                return False
            finally:
                with self._cond:
                    if entry in self._async_waiters:
                        self._async_waiters.remove(entry)


def _wake(waiters: list[_Waiter]) -> None:
    if not waiters:
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, fut in waiters:
        if loop is running:
            _resolve(fut)
            continue
        try:
            loop.call_soon_threadsafe(_resolve, fut)
        except RuntimeError:
            # the consumer's loop has closed: nobody is left to wake
            log.debug("slot consumer's event loop is closed; its wait is dropped")


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
