"""Frame taps: numpy callbacks that never slow the video.

Each tap has a worker thread and a one-frame slot. The media loop drops the
newest frame into the slot and moves on; the worker converts it (yuv → RGB
happens there, not on the media loop) and calls the callback. A frame that
arrives while the previous one still waits replaces it and counts as
skipped: a slow callback sees the newest frames, never a backlog.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["FrameInfo", "Tap", "TapSet"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class FrameInfo:
    """What a tap knows about a frame besides its pixels."""

    #: ``"input"``, ``"output"`` or ``"pair"``.
    stream: str
    #: Input: the source tick index. Output: the count of frames received.
    index: int
    #: Presentation timestamp (90 kHz clock), when known.
    pts: int | None
    #: Wall-clock time (``time.time()``) at which the frame passed the tap.
    time: float
    #: The test pattern's counter stamp read from the frame, if any.
    stamp: int | None = None
    #: For pairs: how the input was matched (``"stamp"`` exact, ``"time"`` approximate).
    matched_by: str | None = None


class Tap:
    """One callback fed newest-wins on its own worker thread."""

    def __init__(
        self,
        callback: Callable[..., Any],
        *,
        stream: str,
        convert: Callable[[Any], Any],
        on_error: Callable[[Tap, BaseException], None],
    ) -> None:
        self.callback = callback
        self.stream = stream
        self._convert = convert
        self._on_error = on_error
        self._is_async = inspect.iscoroutinefunction(callback)
        self._cond = threading.Condition()
        self._slot: tuple[Any, FrameInfo] | None = None
        self._closed = False
        #: Frames handed to the tap.
        self.offered = 0
        #: Frames the callback was given.
        self.delivered = 0
        #: Frames that were replaced by newer ones before the callback was free.
        self.skipped = 0
        #: Seconds the callback took, last call.
        self.last_duration = 0.0
        self._error_kinds: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"decart-tap-{next(_ids)}", daemon=True)
        self._thread.start()

    def offer(self, payload: Any, info: FrameInfo) -> None:
        """Hand in a frame; never blocks (called on the media loop)."""
        with self._cond:
            if self._closed:
                return
            self.offered += 1
            if self._slot is not None:
                self.skipped += 1
            self._slot = (payload, info)
            self._cond.notify()

    def _run(self) -> None:
        loop = asyncio.new_event_loop() if self._is_async else None
        try:
            while True:
                with self._cond:
                    while self._slot is None and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    payload, info = self._slot  # type: ignore[misc]
                    self._slot = None
                t0 = time.perf_counter()
                try:
                    args = self._convert(payload)
                    result = self.callback(*args, info)
                    if loop is not None and inspect.isawaitable(result):
                        loop.run_until_complete(result)
                except Exception as exc:  # noqa: BLE001 - reported, media goes on
                    kind = type(exc).__name__
                    if kind not in self._error_kinds:
                        self._error_kinds.add(kind)
                        self._on_error(self, exc)
                self.last_duration = time.perf_counter() - t0
                self.delivered += 1
        finally:
            if loop is not None:
                loop.close()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._slot = None
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class TapSet:
    """The taps of one stream; iteration-safe while taps come and go."""

    def __init__(self) -> None:
        self._taps: tuple[Tap, ...] = ()
        self._lock = threading.Lock()
        self._skipped_by_removed = 0

    def __bool__(self) -> bool:
        return bool(self._taps)

    def __iter__(self) -> Iterator[Tap]:
        return iter(self._taps)

    def add(self, tap: Tap) -> None:
        with self._lock:
            self._taps = (*self._taps, tap)

    def remove(self, callback: Callable[..., Any]) -> list[Tap]:
        with self._lock:
            gone = [t for t in self._taps if t.callback is callback]
            self._taps = tuple(t for t in self._taps if t.callback is not callback)
        for tap in gone:
            tap.close()
            self._skipped_by_removed += tap.skipped
        return gone

    def offer(self, payload: Any, info: FrameInfo) -> None:
        for tap in self._taps:
            tap.offer(payload, info)

    @property
    def skipped(self) -> int:
        return self._skipped_by_removed + sum(t.skipped for t in self._taps)

    def close(self) -> None:
        with self._lock:
            taps, self._taps = self._taps, ()
        for tap in taps:
            tap.close()
            self._skipped_by_removed += tap.skipped
