"""LatestSlot: newest wins across threads, blocking and async takes, close."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from decart_widgets.common.slot import LatestSlot


def test_newest_wins_and_replacements_are_counted():
    slot: LatestSlot[int] = LatestSlot()
    assert not slot and slot.take_nowait() is None
    for i in range(5):
        assert slot.put(i)
    assert slot and slot.puts == 5 and slot.replaced == 4
    assert slot.take_nowait() == 4 and slot.take_nowait() is None
    slot.put(7)
    slot.clear()
    assert slot.take_nowait() is None and slot.replaced == 4  # cleared, not replaced
    with pytest.raises(ValueError):
        slot.put(None)  # type: ignore[arg-type]


def test_blocking_take_wakes_on_put_from_another_thread_and_on_close():
    slot: LatestSlot[str] = LatestSlot()
    got: list[object] = []
    started = threading.Event()

    def consumer() -> None:
        started.set()
        while (item := slot.take()) is not None:
            got.append(item)

    t = threading.Thread(target=consumer)
    t.start()
    started.wait(5)
    slot.put("a")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.005)
    slot.close()
    t.join(5)
    assert not t.is_alive() and got == ["a"]
    assert slot.closed and not slot.put("late") and slot.take(timeout=0) is None


def test_blocking_take_times_out():
    slot: LatestSlot[int] = LatestSlot()
    t0 = time.monotonic()
    assert slot.take(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04


async def test_async_take_from_a_producer_thread_and_on_the_same_loop():
    slot: LatestSlot[int] = LatestSlot()
    threading.Thread(target=lambda: (time.sleep(0.02), slot.put(1))).start()
    assert await slot.take_async(timeout=5) == 1
    asyncio.get_running_loop().call_soon(slot.put, 2)
    assert await slot.wait_async(timeout=5) and await slot.take_async() == 2  # waiting does not take
    assert await slot.take_async(timeout=0.02) is None


async def test_async_waiters_wake_on_close_and_forget_cancelled_waits():
    slot: LatestSlot[int] = LatestSlot()
    waiter = asyncio.ensure_future(slot.take_async())
    cancelled = asyncio.ensure_future(slot.wait_async())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert len(slot._async_waiters) == 1  # the cancelled wait left no waiter behind
    slot.close()
    assert await asyncio.wait_for(waiter, 5) is None
    assert await slot.wait_async() is False


def test_a_closed_consumer_loop_does_not_break_the_producer():
    slot: LatestSlot[int] = LatestSlot()
    loop = asyncio.new_event_loop()
    # what a consumer leaves behind when its loop is closed while it waits
    slot._async_waiters.append((loop, loop.create_future()))
    loop.close()
    assert slot.put(3)  # waking a closed loop is skipped, the item stays
    assert slot.take_nowait() == 3
