"""The background tasks one object owns.

asyncio keeps only a weak reference to a running task, so a task nobody
holds can vanish mid-flight, and an exception in a task nobody awaits is
reported only when it is garbage-collected, if ever. A :class:`TaskSet`
holds each task it spawns until it ends, logs a task that fails, and
cancels and awaits them all on ``close``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]

log = logging.getLogger(__name__)


class TaskSet:
    """Tasks spawned for one owner; ``owner`` names it in failure logs."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the running loop, held until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self._owner, task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancel every task but the caller's own; returns those cancelled."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self, timeout: float = 5.0) -> None:
        """Cancel every task (but the caller's) and wait up to ``timeout`` for them to end."""
        tasks = self.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            names = ", ".join(t.get_name() for t in pending)
            log.warning("%s: tasks still running %.0f s after cancel: %s", self._owner, timeout, names)
