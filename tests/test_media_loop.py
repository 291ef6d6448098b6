"""The shared media loop: reference-counted, stopped and joined by its last
owner, also when that owner lets go from the loop's own thread."""

from __future__ import annotations

import asyncio
import threading
import time

from decart_widgets.common.media_loop import MediaLoop


def _alive(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(name)]


def _wait_gone(name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _alive(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(name), _alive(name)


def test_last_release_stops_and_joins_the_loop_thread():
    ml = MediaLoop("test-loop-a")
    loop = ml.acquire()
    assert ml.acquire() is loop  # a second owner shares it
    assert ml.run_sync(asyncio.sleep(0, "ran"), timeout=5) == "ran"
    ml.release()
    assert _alive("test-loop-a")  # one owner left
    ml.release()
    assert not _alive("test-loop-a") and loop.is_closed()
    ml.release()  # one release too many changes nothing


def test_release_from_the_loop_thread_stops_it_and_the_next_acquire_joins_it():
    ml = MediaLoop("test-loop-b")
    first = ml.acquire()
    pending = ml.submit(asyncio.sleep(3600))  # a task the stop cancels

    async def let_go() -> None:
        ml.release()  # from the loop's own thread: it cannot join itself

    ml.run_sync(let_go(), timeout=5)
    _wait_gone("test-loop-b")
    assert pending.cancelled() and first.is_closed()
    second = ml.acquire()  # a fresh loop (the old thread joined first)
    assert second is not first and ml.run_sync(asyncio.sleep(0, 1), timeout=5) == 1
    ml.release()
    _wait_gone("test-loop-b")
