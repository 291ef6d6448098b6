"""Running the server on its own thread with its own asyncio loop.

A notebook, the demo and the widget must not share a loop with the client's
media, so the background server gets a private :class:`~decart_widgets.common.media_loop.MediaLoop`
(a loop on a named daemon thread whose stop drains every task and joins the
thread), never the process-wide media loop.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from ..common.media_loop import MediaLoop

__all__ = ["BackgroundLoop"]

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, thread_name: str) -> None:
        self._loop = MediaLoop(thread_name)

    def start(self) -> None:
        self._loop.acquire()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for its result (from another thread)."""
        return self._loop.run_sync(coro, timeout)

    def stop(self) -> None:
        """Cancel what is left, stop the loop and join the thread."""
        self._loop.release()

    def in_loop_thread(self) -> bool:
        return self._loop.in_loop_thread()
