"""Frame access for research: taps, input transforms, input/output pairing,
snapshots, frame iterators and recordings of a session.

Everything here is fed from the media loop and does only cheap work there:
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
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..common.stamp import read_stamp
from ..errors import CallbackError, DecartError, InvalidInputError
from .convert import frame_to_rgb
from .output import OutputSink
from .recorder import Recorder
from .taps import FrameInfo, Tap, TapSet
from .track import FramePump

log = logging.getLogger(__name__)

__all__ = ["FrameHub", "SessionRecording", "STREAMS"]

STREAMS = ("input", "output")
RECORD_STREAMS = ("output", "input", "side_by_side")
_PAIR_HISTORY = 45  # input frames kept for pairing (1.5 s at 30 fps)


_rgb = frame_to_rgb


class FrameHub:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pump: FramePump | None,
        sink: OutputSink,
        report: Callable[[DecartError], None],
    ) -> None:
        self._loop = loop
        self._pump = pump
        self._sink = sink
        self._report = report
        self.input_taps = TapSet()
        self.output_taps = TapSet()
        self.pair_taps = TapSet()
        self._transforms: list[Callable[..., Any]] = []
        self._transform_errors: set[tuple[int, str]] = set()
        self._input_waiters: list[asyncio.Future[np.ndarray]] = []
        self._history: collections.deque[tuple[int, float, np.ndarray, int | None]] = collections.deque(maxlen=_PAIR_HISTORY)
        self._recordings: list[SessionRecording] = []
        self._pairs_wanted = 0
        if pump is not None:  # None: a view-only session has no input
            pump.process = self._process_input
            pump.needs_pixels = self.needs_input_pixels
        sink.listeners.append(self._on_output)

    # --------------------------------------------------------------- registry

    def _tap_error(self, tap: Tap, exc: BaseException) -> None:
        name = getattr(tap.callback, "__qualname__", repr(tap.callback))
        err = CallbackError(f"{tap.stream} frame callback {name} raised {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        log.warning("%s", err)
        self._loop.call_soon_threadsafe(self._report, err)

    def on_frame(self, callback: Callable[..., Any], stream: str = "output", *, transform: bool = False) -> None:
        if not callable(callback):
            raise InvalidInputError(f"callback must be callable, got {type(callback).__name__}")
        if stream not in STREAMS:
            raise InvalidInputError(f"stream must be one of {STREAMS}, got {stream!r}")
        if transform:
            if stream != "input":
                raise InvalidInputError("transforms apply to stream='input' only (they change what the model sees)")
            if inspect.iscoroutinefunction(callback):
                raise InvalidInputError("a transform must be a plain function returning an array (not async)")
            self._transforms = [*self._transforms, callback]
            return
        taps = self.input_taps if stream == "input" else self.output_taps
        convert = (lambda rgb: (rgb,)) if stream == "input" else (lambda f: (_rgb(f),))
        taps.add(Tap(callback, stream=stream, convert=convert, on_error=self._tap_error))

    def on_pair(self, callback: Callable[..., Any]) -> None:
        if not callable(callback):
            raise InvalidInputError(f"callback must be callable, got {type(callback).__name__}")
        self.pair_taps.add(Tap(callback, stream="pair", convert=lambda p: (p[0], _rgb(p[1])), on_error=self._tap_error))

    def off(self, callback: Callable[..., Any]) -> bool:
        """Remove a callback from every stream; True if it was registered."""
        found = bool(self.input_taps.remove(callback) + self.output_taps.remove(callback) + self.pair_taps.remove(callback))
        if callback in self._transforms:
            self._transforms = [t for t in self._transforms if t is not callback]
            found = True
        return found

    def needs_input_pixels(self) -> bool:
        """True while anything here reads input frames as RGB."""
        return bool(
            self._transforms or self.input_taps or self.pair_taps or self._pairs_wanted
            or self._input_waiters or any(r.streams == "input" for r in self._recordings)
        )

    @property
    def skipped(self) -> int:
        return self.input_taps.skipped + self.output_taps.skipped + self.pair_taps.skipped

    # ------------------------------------------------------------ input path

    async def _process_input(self, rgb: np.ndarray, index: int, t: float) -> np.ndarray:
        for transform in self._transforms:
            rgb = await self._loop.run_in_executor(None, self._apply_transform, transform, rgb, index, t)
        wants_history = bool(self.pair_taps) or self._pairs_wanted > 0
        if self.input_taps or wants_history or self._input_waiters or self._recordings:
            stamp = read_stamp(rgb)
            info = FrameInfo("input", index, int(round(t * 90_000)), time.time(), stamp)
            self.input_taps.offer(rgb, info)
            if wants_history:
                self._history.append((index, time.perf_counter(), rgb, stamp))
            if self._input_waiters:
                waiters, self._input_waiters = self._input_waiters, []
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(rgb)
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
        except Exception as exc:  # noqa: BLE001 - the original frame goes on
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

    def _on_output(self, frame: av.VideoFrame, counter: int | None) -> None:
        info = None
        if self.output_taps:
            info = FrameInfo("output", self._sink.frames_received, frame.pts, time.time(), counter)
            self.output_taps.offer(frame, info)
        pair = None
        if self.pair_taps or self._pairs_wanted:
            pair = self._match(counter)
        if pair is not None and self.pair_taps:
            index, matched_by, rgb = pair
            self.pair_taps.offer((rgb, frame), FrameInfo("pair", index, frame.pts, time.time(), counter, matched_by))
        for rec in self._recordings:
            if rec.streams == "output":
                rec.offer(frame)
            elif rec.streams == "side_by_side" and pair is not None:
                rec.offer((pair[2], frame))

    def _match(self, counter: int | None) -> tuple[int, str, np.ndarray] | None:
        """The input that produced an output: by stamp when it has one, else
        the input sent about one measured latency ago (approximate)."""
        if not self._history:
            return None
        if counter is not None:
            for index, _, rgb, stamp in reversed(self._history):
                if stamp == counter:
                    return index, "stamp", rgb
            return None  # the exact input is known and gone: no guessing
        latencies = self._sink.latencies
        delay = float(np.median(np.fromiter(latencies, float))) if latencies else 0.0
        target = time.perf_counter() - delay
        index, _, rgb, _ = min(self._history, key=lambda h: abs(h[1] - target))
        return index, "time", rgb

    # ------------------------------------------------------- pull-style access

    async def next_frame(self, stream: str) -> np.ndarray:
        """The next frame of ``stream`` (runs on the media loop)."""
        if stream == "output":
            return await self._loop.run_in_executor(None, _rgb, await self._sink.next_frame())
        if stream == "input":
            fut: asyncio.Future[np.ndarray] = self._loop.create_future()
            self._input_waiters.append(fut)
            return (await fut).copy()
        raise InvalidInputError(f"stream must be one of {STREAMS}, got {stream!r}")

    def iterate(self, stream: str, max_fps: float | None) -> FrameIterator:
        """Newest-wins frames for an ``async for`` on the caller's loop."""
        if stream not in STREAMS:
            raise InvalidInputError(f"stream must be one of {STREAMS}, got {stream!r}")
        if max_fps is not None and (isinstance(max_fps, bool) or not isinstance(max_fps, (int, float)) or max_fps <= 0):
            raise InvalidInputError(f"max_fps must be a positive number or None, got {max_fps!r}")
        return FrameIterator(self, stream, max_fps)

    # ---------------------------------------------------------------- records

    def record(self, path: str | Path, streams: str, fps: float | None) -> SessionRecording:
        if streams not in RECORD_STREAMS:
            raise InvalidInputError(f"streams must be one of {RECORD_STREAMS}, got {streams!r}")
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0):
            raise InvalidInputError(f"fps must be a positive number or None, got {fps!r}")
        model_fps = self._pump.fps if self._pump is not None else 30.0
        rec = SessionRecording(self, Path(path), streams, float(fps) if fps else None, model_fps)
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
        for taps in (self.input_taps, self.output_taps, self.pair_taps):
            taps.close()
        self._transforms = []
        for rec in list(self._recordings):
            try:
                rec.stop()
            except InvalidInputError as exc:
                log.warning("%s", exc)
        self._history.clear()


def _side_by_side(pair: tuple[np.ndarray, av.VideoFrame]) -> np.ndarray:
    src, out = pair[0], _rgb(pair[1])
    h, w = out.shape[:2]
    half = (w // 2 - (w // 2) % 2, h // 2 - (h // 2) % 2)
    return np.hstack([
        cv2.resize(src, half, interpolation=cv2.INTER_AREA),
        cv2.resize(out, half, interpolation=cv2.INTER_AREA),
    ])


class SessionRecording:
    """A recording of one stream of a session; ``stop()`` finishes the file."""

    def __init__(self, hub: FrameHub, path: Path, streams: str, cap: float | None, model_fps: float) -> None:
        self._hub = hub
        self.streams = streams
        #: The cap on frames per second, or None to keep every frame.
        self.fps = cap
        self._gap = 1.0 / cap if cap else 0.0
        self._next = 0.0
        prepare = _side_by_side if streams == "side_by_side" else None
        self._recorder = Recorder(path, fps=cap or model_fps, prepare=prepare)

    @property
    def path(self) -> Path:
        return self._recorder.path

    @property
    def frames_written(self) -> int:
        return self._recorder.frames_written

    @property
    def frames_dropped(self) -> int:
        return self._recorder.frames_dropped

    def offer(self, item: Any) -> None:
        now = time.perf_counter()
        if self._gap:
            # at most ``fps`` frames a second, on average (jitter does not starve it)
            if now < self._next:
                return
            self._next = max(self._next + self._gap, now - self._gap)
        self._recorder.write(item, now)

    def stop(self) -> Path:
        """Finish the file and return its path; idempotent."""
        self._hub._forget(self)
        path = self._recorder.stop()
        if self._recorder.error is not None:
            raise InvalidInputError(f"recording to {path} failed: {self._recorder.error}") from self._recorder.error
        return path

    def __enter__(self) -> SessionRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FrameIterator:
    """``async for`` over a stream's newest frames. Its tap is removed when
    the loop ends (``break`` drops the iterator), on ``close()``, or when the
    session closes."""

    def __init__(self, hub: FrameHub, stream: str, max_fps: float | None) -> None:
        self._hub = hub
        self._gap = 1.0 / max_fps if max_fps else 0.0
        self._last = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[np.ndarray, FrameInfo]] | None = None
        self._stream = stream
        self._closed = False
        self._callback: Callable[..., Any] | None = None

    def _deliver(self, frame: np.ndarray, info: FrameInfo) -> None:
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return

        def put_newest() -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait((frame, info))

        try:
            loop.call_soon_threadsafe(put_newest)
        except RuntimeError:  # the consumer's loop closed
            pass

    def __aiter__(self) -> FrameIterator:
        return self

    async def __anext__(self) -> tuple[np.ndarray, FrameInfo]:
        if self._closed:
            raise StopAsyncIteration
        if self._queue is None:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue(maxsize=1)
            # the tap holds the iterator weakly, so dropping the iterator (a
            # ``break``) finalises it and removes the tap
            ref = weakref.ref(self)

            def deliver(frame: np.ndarray, info: FrameInfo) -> None:
                it = ref()
                if it is not None:
                    it._deliver(frame, info)

            self._callback = deliver
            self._hub.on_frame(deliver, self._stream)
        frame, info = await self._queue.get()
        if self._gap:
            wait = self._gap - (time.monotonic() - self._last)
            if wait > 0:
                await asyncio.sleep(wait)
                if not self._queue.empty():
                    frame, info = self._queue.get_nowait()
        self._last = time.monotonic()
        return frame, info

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._callback is not None:
                self._hub.off(self._callback)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - finaliser
            pass
