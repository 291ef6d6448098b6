"""The background tasks one server object owns (a stream, a room participant,
the server): kept referenced while they run, their failures logged, all
cancelled when the owner closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]

log = logging.getLogger(__name__)


class TaskSet:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self._owner, exc_info=task.exception())

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancel every task but the calling one; returns them, to be awaited."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        return tasks

    async def close(self) -> None:
        """Cancel every task but the calling one and wait until they ended."""
        await asyncio.gather(*self.cancel(), return_exceptions=True)
