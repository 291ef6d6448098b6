"""The background media loop: one thread with its own asyncio loop, shared by
every session, so a busy notebook cell never freezes video.

The thread is reference-counted: it starts when the first owner acquires it
and stops (executor threads and all) when the last owner releases it, so a
process with no open session has no media thread left running. The last
owner may let go from the loop's own thread (an event handler closing a
widget): the loop then drains and stops itself, and the next ``acquire``
(or any later ``release`` from another thread) joins the finished thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["MediaLoop", "media_loop"]

log = logging.getLogger(__name__)

THREAD_NAME = "decart-media-loop"


class MediaLoop:
    """A reference-counted asyncio loop on a daemon thread."""

    def __init__(self, name: str = THREAD_NAME) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._refs = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # a loop that stopped itself (released from its own thread), not joined yet
        self._stopping: threading.Thread | None = None
        self._self_stop: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("media loop is not running; acquire() it first")
        return self._loop

    def acquire(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._refs += 1
            if self._loop is None:
                self._join_stopped()
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
        """Drop one reference; the last one stops the loop and joins the thread
        (from the loop's own thread: the loop stops itself, joined later)."""
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
                self._stopping = thread
                self._self_stop = loop.create_task(_drain(loop), name="decart-media-loop-stop")
                self._self_stop.add_done_callback(lambda task: _stopped(task, loop))
                return
            self._join_stopped()
        fut = asyncio.run_coroutine_threadsafe(_drain(loop), loop)
        try:
            fut.result(timeout=10)
        except Exception as exc:  # noqa: BLE001 - the loop stops regardless; say what was left
            log.warning("media loop did not drain cleanly before stopping: %s: %s", type(exc).__name__, exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if thread.is_alive():
            log.warning("media loop thread still running 10 s after stop (left to a daemon thread)")

    def _join_stopped(self) -> None:
        """Join a loop thread that stopped itself (called with the lock held)."""
        thread, self._stopping = self._stopping, None
        self._self_stop = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
            if thread.is_alive():
                log.warning("media loop thread still running 10 s after it stopped itself")

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> concurrent.futures.Future[Any]:
        """:meth:`submit` for work nobody waits for: a failure is logged as
        "``what`` failed" instead of vanishing with the future."""
        fut = self.submit(coro)
        fut.add_done_callback(lambda f: _log_failure(f, what))
        return fut

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


def _log_failure(fut: concurrent.futures.Future[Any], what: str) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("%s failed", what, exc_info=fut.exception())


def _stopped(task: asyncio.Task[None], loop: asyncio.AbstractEventLoop) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("media loop did not drain cleanly before stopping: %r", task.exception())
    loop.stop()


async def _drain(loop: asyncio.AbstractEventLoop) -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks(loop) if t is not current]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


#: The process-wide media loop every session shares.
media_loop = MediaLoop()
