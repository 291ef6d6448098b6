"""TaskSet: tasks held until done, failures logged, close cancels and waits."""

from __future__ import annotations

import asyncio
import logging

from decart_widgets.common.tasks import TaskSet


async def test_tasks_are_held_failures_logged_and_close_cancels(caplog):
    tasks = TaskSet("test owner")
    done = asyncio.Event()

    async def finishes() -> None:
        done.set()

    async def fails() -> None:
        raise RuntimeError("boom")

    async def forever() -> None:
        await asyncio.Event().wait()

    tasks.spawn(finishes(), name="finishes")
    with caplog.at_level(logging.ERROR, logger="decart_widgets.common.tasks"):
        failing = tasks.spawn(fails(), name="fails")
        await asyncio.wait([failing])
        await asyncio.sleep(0)
    assert done.is_set()
    assert any("test owner: task fails failed" in r.getMessage() for r in caplog.records)
    waiting = tasks.spawn(forever(), name="forever")
    await asyncio.sleep(0)
    assert len(tasks) == 1  # finished tasks are let go
    await tasks.close(timeout=5)
    assert waiting.cancelled() and len(tasks) == 0


async def test_close_from_one_of_its_own_tasks_does_not_cancel_itself():
    tasks = TaskSet("self-closing owner")
    other = tasks.spawn(asyncio.Event().wait())

    async def closer() -> str:
        await tasks.close(timeout=5)
        return "closed"

    assert await tasks.spawn(closer()) == "closed"
    assert other.cancelled()
