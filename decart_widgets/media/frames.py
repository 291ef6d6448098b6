"""Frame access for research: taps, input transforms, input/output pairing,
snapshots, frame iterators and recordings of a session.

The :class:`FrameHub` sits on both sides of the model: the pump hands it
each input frame (:meth:`FrameHub.process_input`) before the frame is sent,
and the output sink hands it each output frame (:meth:`FrameHub.on_output`)
as it arrives. Both run on the media loop and do only cheap work there:
callbacks, conversions and encoding run on tap workers or recorder threads.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..common.slot import LatestSlot
from ..common.stamp import read_stamp
from ..errors import CallbackError, DecartError, InvalidInputError
from .convert import frame_to_rgb
from .meters import LatencyMeter
from .recorder import RECORDINGS, SessionRecording
from .taps import FrameInfo, Tap, TapSet

log = logging.getLogger(__name__)

__all__ = ["FrameHub", "FrameIterator", "SessionRecording", "DIRECTIONS"]

#: The two directions of a session's frames (the ``stream=`` of ``on_frame``).
DIRECTIONS = ("input", "output")
_PAIR_HISTORY = 45  # input frames kept for pairing (1.5 s at 30 fps)


@dataclass(frozen=True)
class _SentInput:
    """An input frame kept to pair with the output the model makes of it."""

    index: int
    sent_at: float  # perf_counter()
    rgb: np.ndarray
    stamp: int | None


def _check_direction(stream: str) -> None:
    if stream not in DIRECTIONS:
        raise InvalidInputError(f"stream must be one of {DIRECTIONS}, got {stream!r}")


def _check_rate(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise InvalidInputError(f"{name} must be a positive number or None, got {value!r}")


def _check_callable(callback: Any) -> None:
    if not callable(callback):
        raise InvalidInputError(f"callback must be callable, got {type(callback).__name__}")


class FrameHub:
    """The session's frames as research sees them.

    :param loop: the media loop (errors are reported there).
    :param fps: the model's frame rate (a recording's default rate).
    :param latency: the session's latency meter (pairs unstamped outputs by time).
    :param report: how a failing callback or transform is reported (the session's ``error`` event).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fps: float,
        latency: LatencyMeter,
        report: Callable[[DecartError], None],
    ) -> None:
        self._loop = loop
        self._fps = fps
        self._latency = latency
        self._report = report
        self.input_taps = TapSet()
        self.output_taps = TapSet()
        self.pair_taps = TapSet()
        self._transforms: list[Callable[..., Any]] = []
        self._transform_errors: set[tuple[int, str]] = set()
        self._waiters: dict[str, list[asyncio.Future[Any]]] = {"input": [], "output": []}
        self._history: collections.deque[_SentInput] = collections.deque(maxlen=_PAIR_HISTORY)
        self._recordings: list[SessionRecording] = []
        self._pairs_wanted = 0
        self._iterators: weakref.WeakSet[FrameIterator] = weakref.WeakSet()

    # --------------------------------------------------------------- registry

    def _tap_error(self, tap: Tap, exc: BaseException) -> None:
        name = getattr(tap.callback, "__qualname__", repr(tap.callback))
        err = CallbackError(f"{tap.stream} frame callback {name} raised {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        log.warning("%s", err)
        self._loop.call_soon_threadsafe(self._report, err)

    def on_frame(
        self,
        callback: Callable[..., Any],
        stream: str = "output",
        *,
        transform: bool = False,
        video_frame: bool = False,
    ) -> Tap | None:
        """Call ``callback(frame, info)`` for each frame of ``stream`` on a
        worker of its own; returns its :class:`Tap` (None for a transform).

        ``video_frame=True`` (output only) hands over the decoded
        ``av.VideoFrame`` as it arrived (yuv420p, shared: read it, do not
        change it) instead of an RGB array, with no conversion at all.
        """
        _check_callable(callback)
        _check_direction(stream)
        if transform:
            if stream != "input":
                raise InvalidInputError("transforms apply to stream='input' only (they change what the model sees)")
            if inspect.iscoroutinefunction(callback):
                raise InvalidInputError("a transform must be a plain function returning an array (not async)")
            self._transforms = [*self._transforms, callback]
            return None
        if video_frame and stream != "output":
            raise InvalidInputError("video_frame=True applies to stream='output' only (input frames are RGB arrays)")
        if stream == "input":
            taps, convert = self.input_taps, _as_is
        else:
            taps, convert = self.output_taps, (_as_is if video_frame else _to_rgb)
        tap = Tap(callback, stream=stream, convert=convert, on_error=self._tap_error)
        taps.add(tap)
        return tap

    def on_pair(self, callback: Callable[..., Any]) -> Tap:
        _check_callable(callback)
        tap = Tap(callback, stream="pair", convert=lambda p: (p[0], frame_to_rgb(p[1])), on_error=self._tap_error)
        self.pair_taps.add(tap)
        return tap

    def off(self, callback: Callable[..., Any]) -> bool:
        """Remove a callback from every stream; True if it was registered."""
        found = bool(self.input_taps.remove(callback) + self.output_taps.remove(callback) + self.pair_taps.remove(callback))
        if callback in self._transforms:
            self._transforms = [t for t in self._transforms if t != callback]
            found = True
        return found

    def needs_input_pixels(self) -> bool:
        """True while anything here reads input frames as RGB."""
        return bool(
            self._transforms or self.input_taps or self.pair_taps or self._pairs_wanted
            or self._waiters["input"] or any(r.streams == "input" for r in self._recordings)
        )

    def needs_output_pixels(self) -> bool:
        """True while anything here reads output frames (decoded): taps,
        pairs, waiters, recordings. While not, the session's aiortc link
        may leave its output undecoded (forwarding it instead)."""
        return bool(
            self.output_taps or self.pair_taps or self._pairs_wanted
            or self._waiters["output"] or self._recordings
        )

    @property
    def skipped(self) -> int:
        return self.input_taps.skipped + self.output_taps.skipped + self.pair_taps.skipped

    # ------------------------------------------------------------ input path

    async def process_input(self, rgb: np.ndarray, index: int, t: float) -> np.ndarray:
        """The pump's input frame through the transforms, to the input taps,
        waiters and recordings; returns the frame to send."""
        for transform in self._transforms:
            rgb = await self._loop.run_in_executor(None, self._apply_transform, transform, rgb, index, t)
        wants_history = bool(self.pair_taps) or self._pairs_wanted > 0
        if self.input_taps or wants_history or self._waiters["input"] or self._recordings:
            stamp = read_stamp(rgb)
            self.input_taps.offer(rgb, FrameInfo("input", index, int(round(t * 90_000)), time.time(), stamp))
            if wants_history:
                self._history.append(_SentInput(index, time.perf_counter(), rgb, stamp))
            self._resolve_waiters("input", rgb)
            for rec in self._recordings:
                if rec.streams == "input":
                    rec.offer(rgb)
        return rgb

    def _apply_transform(self, transform: Callable[..., Any], rgb: np.ndarray, index: int, t: float) -> np.ndarray:
        info = FrameInfo("input", index, int(round(t * 90_000)), time.time(), None)
        if not rgb.flags.writeable:
            rgb = rgb.copy()  # sources share read-only frames; transforms may draw in place
        try:
            out = transform(rgb, info)
        except Exception as exc:  # noqa: BLE001 - reported; the original frame goes on
            self._transform_failed(transform, exc)
            return rgb
        if out is None:
            return rgb
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
            self._transform_failed(transform, InvalidInputError(
                f"a transform must return an HxWx3 uint8 RGB array or None, got "
                f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}"))
            return rgb
        if out.shape != rgb.shape:
            out = cv2.resize(out, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(out)

    def _transform_failed(self, transform: Callable[..., Any], exc: BaseException) -> None:
        key = (id(transform), type(exc).__name__)
        if key in self._transform_errors:
            return
        self._transform_errors.add(key)
        name = getattr(transform, "__qualname__", repr(transform))
        err = CallbackError(f"input transform {name} raised {type(exc).__name__}: {exc}; the frame was sent unchanged")
        err.__cause__ = exc
        log.warning("%s", err)
        self._loop.call_soon_threadsafe(self._report, err)

    # ----------------------------------------------------------- output path

    def on_output(self, frame: av.VideoFrame, counter: int | None, index: int) -> None:
        """The output sink's frame: to the output taps, waiters, pairs and recordings."""
        if self.output_taps:
            self.output_taps.offer(frame, FrameInfo("output", index, frame.pts, time.time(), counter))
        self._resolve_waiters("output", frame)
        pair = None
        if self.pair_taps or self._pairs_wanted:
            pair = self._match(counter)
        if pair is not None and self.pair_taps:
            sent, matched_by = pair
            self.pair_taps.offer((sent.rgb, frame), FrameInfo("pair", sent.index, frame.pts, time.time(), counter, matched_by))
        for rec in self._recordings:
            if rec.streams == "output":
                rec.offer(frame)
            elif rec.streams == "side_by_side" and pair is not None:
                rec.offer((pair[0].rgb, frame))

    def _match(self, counter: int | None) -> tuple[_SentInput, str] | None:
        """The input that produced an output: by stamp when it has one, else
        the input sent about one measured latency ago (approximate)."""
        if not self._history:
            return None
        if counter is not None:
            for sent in reversed(self._history):
                if sent.stamp == counter:
                    return sent, "stamp"
            return None  # the exact input is known and gone: no guessing
        target = time.perf_counter() - (self._latency.median_s() or 0.0)
        return min(self._history, key=lambda s: abs(s.sent_at - target)), "time"

    # ------------------------------------------------------- pull-style access

    def _resolve_waiters(self, stream: str, frame: Any) -> None:
        waiters = self._waiters[stream]
        if waiters:
            self._waiters[stream] = []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(frame)

    async def next_frame(self, stream: str) -> np.ndarray:
        """The next frame of ``stream`` as RGB (runs on the media loop)."""
        _check_direction(stream)
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._waiters[stream].append(fut)
        frame = await fut
        if stream == "output":
            return await self._loop.run_in_executor(None, frame_to_rgb, frame)
        return frame.copy()

    def iterate(self, stream: str, max_fps: float | None, *, with_info: bool = True) -> FrameIterator:
        """Newest-wins frames for an ``async for`` on the caller's loop."""
        _check_direction(stream)
        _check_rate("max_fps", max_fps)
        it = FrameIterator(self, stream, max_fps, with_info=with_info)
        self._iterators.add(it)
        return it

    # ---------------------------------------------------------------- records

    def record(self, path: str | Path, streams: str, fps: float | None) -> SessionRecording:
        if streams not in RECORDINGS:
            raise InvalidInputError(f"streams must be one of {RECORDINGS}, got {streams!r}")
        _check_rate("fps", fps)
        rec = SessionRecording(Path(path), streams, float(fps) if fps else None, self._fps, on_stop=self._forget)
        self._recordings = [*self._recordings, rec]
        if streams == "side_by_side":
            self._pairs_wanted += 1
        return rec

    def _forget(self, rec: SessionRecording) -> None:
        if rec in self._recordings:
            self._recordings = [r for r in self._recordings if r is not rec]
            if rec.streams == "side_by_side":
                self._pairs_wanted -= 1

    def close(self) -> None:
        """Stop every tap (joining their workers), iterator and recording."""
        for taps in (self.input_taps, self.output_taps, self.pair_taps):
            taps.close()
        self._transforms = []
        for it in list(self._iterators):
            it.close()
        for rec in list(self._recordings):
            try:
                rec.stop()
            except InvalidInputError as exc:
                log.warning("%s", exc)
        self._history.clear()


def _as_is(frame: Any) -> tuple[Any]:
    return (frame,)


def _to_rgb(frame: av.VideoFrame) -> tuple[np.ndarray]:
    return (frame_to_rgb(frame),)


class FrameIterator:
    """``async for`` over a stream's newest frames, ``(frame, info)`` or with
    ``with_info=False`` the frames alone. Its tap is removed when the loop
    ends (``break`` drops the iterator), on ``close()``, or when the session
    closes (a waiting ``async for`` then ends)."""

    def __init__(self, hub: FrameHub, stream: str, max_fps: float | None, *, with_info: bool = True) -> None:
        self._hub = hub
        self._stream = stream
        self._with_info = with_info
        self._gap = 1.0 / max_fps if max_fps else 0.0
        self._last = 0.0
        self._slot: LatestSlot[tuple[np.ndarray, FrameInfo]] = LatestSlot()
        self._closed = False
        self._callback: Callable[..., Any] | None = None

    def __aiter__(self) -> FrameIterator:
        return self

    async def __anext__(self) -> Any:
        if self._closed:
            raise StopAsyncIteration
        if self._callback is None:
            # the tap holds the iterator weakly, so dropping the iterator (a
            # ``break``) finalises it and removes the tap
            ref = weakref.ref(self)

            def deliver(frame: np.ndarray, info: FrameInfo) -> None:
                it = ref()
                if it is not None:
                    it._slot.put((frame, info))

            self._callback = deliver
            self._hub.on_frame(deliver, self._stream)
        item = await self._slot.take_async()
        if item is None:
            raise StopAsyncIteration  # closed while waiting
        if self._gap:
            wait = self._gap - (time.monotonic() - self._last)
            if wait > 0:
                await asyncio.sleep(wait)
                item = self._slot.take_nowait() or item
        self._last = time.monotonic()
        return item if self._with_info else item[0]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._slot.close()
            if self._callback is not None:
                self._hub.off(self._callback)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a finaliser must not raise; say why it could not close
            log.debug("a dropped frame iterator did not close cleanly", exc_info=True)
