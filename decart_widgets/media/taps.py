"""Frame taps: numpy callbacks that never slow the video.

Each tap has a worker thread and a newest-wins slot. The media loop drops
the newest frame into the slot and moves on; the worker converts it (yuv →
RGB happens there, not on the media loop) and calls the callback. A frame
that arrives while the previous one still waits replaces it and counts as
skipped: a slow callback sees the newest frames, never a backlog.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.fanout import FanOut
from ..common.slot import LatestSlot

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
    """One callback fed newest-wins on its own worker thread.

    ``on_frame`` and ``on_pair`` return it, so a caller can read how its
    callback keeps up: :attr:`offered`, :attr:`delivered`, :attr:`skipped`.
    The tap's owner (the session's frame hub) stops it with :meth:`close`,
    which joins the worker.
    """

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
        self._slot: LatestSlot[tuple[Any, FrameInfo]] = LatestSlot()
        #: Frames the callback was given.
        self.delivered = 0
        #: Seconds the callback took, last call.
        self.last_duration = 0.0
        self._error_kinds: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"decart-tap-{next(_ids)}", daemon=True)
        self._thread.start()

    @property
    def offered(self) -> int:
        """Frames handed to the tap."""
        return self._slot.puts

    @property
    def skipped(self) -> int:
        """Frames replaced by newer ones before the callback was free."""
        return self._slot.replaced

    @property
    def running(self) -> bool:
        """True until the tap is closed and its worker has ended."""
        return self._thread.is_alive()

    def offer(self, payload: Any, info: FrameInfo) -> None:
        """Hand in a frame; never blocks (called on the media loop)."""
        self._slot.put((payload, info))

    __call__ = offer  # a tap is a subscriber of its stream's fan-out

    def _run(self) -> None:
        loop = asyncio.new_event_loop() if self._is_async else None
        try:
            while (item := self._slot.take()) is not None:
                payload, info = item
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
        """Stop the worker (a frame waiting is dropped) and join it."""
        self._slot.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                name = getattr(self.callback, "__qualname__", repr(self.callback))
                log.warning("frame callback %s still running %.0f s after its tap closed", name, timeout)


class TapSet:
    """The taps of one stream: offered each frame, in the order they came."""

    def __init__(self) -> None:
        self._taps: FanOut[Tap] = FanOut()
        self._lock = threading.Lock()
        self._skipped_by_removed = 0

    def __bool__(self) -> bool:
        return bool(self._taps)

    def __iter__(self) -> Iterator[Tap]:
        return iter(self._taps)

    def add(self, tap: Tap) -> None:
        self._taps.subscribe(tap)

    def remove(self, callback: Callable[..., Any]) -> list[Tap]:
        """Close and drop the taps of ``callback``; returns them."""
        gone = self._taps.remove_where(lambda tap: tap.callback == callback)
        self._retire(gone)
        return gone

    def offer(self, payload: Any, info: FrameInfo) -> None:
        self._taps.emit(payload, info)

    @property
    def skipped(self) -> int:
        return self._skipped_by_removed + sum(t.skipped for t in self._taps)

    def close(self) -> None:
        self._retire(self._taps.clear())

    def _retire(self, taps: Sequence[Tap]) -> None:
        for tap in taps:
            tap.close()
            with self._lock:
                self._skipped_by_removed += tap.skipped
