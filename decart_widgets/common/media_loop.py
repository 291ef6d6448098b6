"""The background media loop: one thread with its own asyncio loop, shared by
every session, so a busy notebook cell never freezes video.

The thread is reference-counted: it starts when the first owner acquires it
and stops (executor threads and all) when the last owner releases it, so a
process with no open session has no media thread left running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

__all__ = ["MediaLoop", "media_loop"]

THREAD_NAME = "decart-media-loop"


class MediaLoop:
    """A reference-counted asyncio loop on a daemon thread."""

    def __init__(self, name: str = THREAD_NAME) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._refs = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        #: A loop thread that stopped itself (released from its own thread),
        #: joined by the next acquire() or release() from another thread.
        self._ending: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("media loop is not running; acquire() it first")
        return self._loop

    def acquire(self) -> asyncio.AbstractEventLoop:
        self._join_ending()
        with self._lock:
            self._refs += 1
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                # named workers (aiortc encodes/decodes on the default
                # executor), so leak checks can tell session threads apart
                loop.set_default_executor(
                    concurrent.futures.ThreadPoolExecutor(thread_name_prefix=f"{self._name}-worker")
                )

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    try:
                        loop.run_forever()
                    finally:
                        loop.close()

                thread = threading.Thread(target=run, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def release(self) -> None:
        """Drop one reference; the last one stops the loop.

        From another thread it also waits for the loop's tasks to end and joins
        the thread. From the loop's own thread (a session closing itself from an
        event handler) it cannot wait: the loop drains and stops once the
        caller returns, and the next acquire() or release() joins the thread.
        """
        with self._lock:
            if self._refs == 0:
                return
            self._refs -= 1
            if self._refs or self._loop is None:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            assert thread is not None
            if threading.current_thread() is thread:
                self._ending = thread
                loop.call_soon(lambda: loop.create_task(_drain(loop, stop=True)))
                return
        self._join_ending()
        fut = asyncio.run_coroutine_threadsafe(_drain(loop), loop)
        try:
            fut.result(timeout=10)
        except Exception:  # noqa: BLE001 - shutting down regardless, but say so
            log.warning("media loop tasks did not drain cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def _join_ending(self) -> None:
        with self._lock:
            ending, self._ending = self._ending, None
        if ending is not None and ending is not threading.current_thread():
            ending.join(timeout=10)

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the media loop from any event loop (or on it)."""
        if self.in_loop_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Blocking twin of :meth:`run`, for plain (non-async) callers."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("run_sync() would deadlock on the media loop thread")
        return self.submit(coro).result(timeout)


async def _drain(loop: asyncio.AbstractEventLoop, *, stop: bool = False) -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks(loop) if t is not current]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()
    if stop:
        loop.stop()


#: The process-wide media loop every session shares.
media_loop = MediaLoop()
