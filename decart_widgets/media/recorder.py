"""MP4 recording (H.264 via PyAV) on a writer thread of its own, so encoding
never runs on the media loop.

:class:`Recorder` writes the file; :class:`SessionRecording` is what
``session.record()`` returns: one recording of a session's input, output or
both side by side, at a capped rate, fed by the session's frame hub.

Timestamps come from the wall clock at which frames were handed in and are
forced strictly increasing, so pauses (a reconnect) show as pauses and the
muxer never sees a non-monotonic dts.
"""

from __future__ import annotations

import fractions
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..errors import InvalidInputError
from .convert import frame_copy_yuv, frame_to_rgb, ndarray_to_frame

log = logging.getLogger(__name__)

__all__ = ["Recorder", "SessionRecording", "RECORDINGS"]

#: What a session can record (the ``streams=`` of ``session.record``).
RECORDINGS = ("output", "input", "side_by_side")

_TIME_BASE = fractions.Fraction(1, 1000)  # milliseconds
_STOP = object()


class Recorder:
    """Writes RGB frames to an MP4 file. ``write`` never blocks; ``stop`` is idempotent."""

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float = 30.0,
        crf: int = 23,
        preset: str = "veryfast",
        max_queue: int = 120,
        prepare: Callable[[Any], np.ndarray | av.VideoFrame] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mov", ".mkv"):
            raise ValueError(f"recording path must end in .mp4, .mov or .mkv, got {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._crf, self._preset = crf, preset
        # runs on the writer thread: turns whatever was written into a frame
        self._prepare = prepare
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._t0: float | None = None
        self._last_pts = -1
        #: Frames encoded into the file so far.
        self.frames_written = 0
        #: Frames not recorded because the encoder fell behind by ``max_queue``.
        self.frames_dropped = 0
        self.error: BaseException | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="decart-recorder", daemon=True)
        self._thread.start()

    def write(self, item: Any, t: float | None = None) -> None:
        """Queue one frame (``HxWx3 uint8`` RGB, an ``av.VideoFrame``, or what
        ``prepare`` takes) taken at perf_counter() ``t`` (default now)."""
        if self._stopped:
            return
        t = time.perf_counter() if t is None else t
        with self._lock:
            if self._t0 is None:
                self._t0 = t
            pts = int(round((t - self._t0) * 1000))
            pts = max(pts, self._last_pts + 1)
            self._last_pts = pts
        try:
            self._queue.put_nowait((item, pts))
        except queue.Full:
            self.frames_dropped += 1

    @property
    def frames_pending(self) -> int:
        """Frames handed in and not written yet."""
        return self._queue.qsize()

    def _run(self) -> None:
        container = None
        stream = None
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                data: Any
                pts: int
                data, pts = item  # type: ignore[misc]
                if self._prepare is not None:
                    data = self._prepare(data)
                if isinstance(data, av.VideoFrame):
                    w, h = data.width, data.height
                else:
                    h, w = data.shape[:2]
                if container is None:
                    container = av.open(str(self.path), mode="w")
                    stream = container.add_stream("libx264", rate=int(round(self.fps)))
                    stream.width, stream.height = w - w % 2, h - h % 2
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = _TIME_BASE
                    stream.codec_context.time_base = _TIME_BASE
                    stream.options = {"crf": str(self._crf), "preset": self._preset}
                assert stream is not None
                frame = _to_yuv_frame(data, stream.width, stream.height)
                frame.pts = pts
                frame.time_base = _TIME_BASE
                for packet in stream.encode(frame):
                    container.mux(packet)
                self.frames_written += 1
            if stream is not None and container is not None:
                for packet in stream.encode(None):
                    container.mux(packet)
        except Exception as exc:  # noqa: BLE001 - reported through .error
            log.exception("recording to %s failed", self.path)
            self.error = exc
            # keep draining so writers never block on a dead recorder
            while self._queue.get() is not _STOP:
                pass
        finally:
            if container is not None:
                container.close()

    def stop(self, timeout: float = 30.0) -> Path:
        """Finish the file and return its path. Safe to call twice."""
        with self._lock:
            first = not self._stopped
            self._stopped = True
        if first:
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("recording to %s still encoding %.0f s after stop (left to a daemon thread)",
                        self.path, timeout)
        return self.path

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _to_yuv_frame(data: np.ndarray | av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """A new yuv420p frame of the stream's size (shared frames are copied, never mutated)."""
    if isinstance(data, av.VideoFrame):
        return frame_copy_yuv(data, width, height)
    if data.shape[:2] != (height, width):
        data = cv2.resize(data, (width, height), interpolation=cv2.INTER_AREA)
    return ndarray_to_frame(data)


def _side_by_side(pair: tuple[np.ndarray, av.VideoFrame]) -> np.ndarray:
    src, out = pair[0], frame_to_rgb(pair[1])
    h, w = out.shape[:2]
    half = (w // 2 - (w // 2) % 2, h // 2 - (h // 2) % 2)
    return np.hstack([
        cv2.resize(src, half, interpolation=cv2.INTER_AREA),
        cv2.resize(out, half, interpolation=cv2.INTER_AREA),
    ])


class SessionRecording:
    """A recording of a session's ``"output"``, ``"input"`` or ``"side_by_side"``;
    ``stop()`` finishes the file (also a context manager).

    :param on_stop: told once the recording stops (the hub stops feeding it).
    """

    def __init__(
        self,
        path: Path,
        streams: str,
        cap: float | None,
        model_fps: float,
        on_stop: Callable[[SessionRecording], None],
    ) -> None:
        self._on_stop = on_stop
        #: What is recorded: ``"output"``, ``"input"`` or ``"side_by_side"``.
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
        """Frames encoded into the file so far."""
        return self._recorder.frames_written

    @property
    def frames_pending(self) -> int:
        """Frames taken for the file and not encoded yet."""
        return self._recorder.frames_pending

    @property
    def frames_dropped(self) -> int:
        """Frames not recorded because the encoder fell behind."""
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
        self._on_stop(self)
        path = self._recorder.stop()
        if self._recorder.error is not None:
            raise InvalidInputError(f"recording to {path} failed: {self._recorder.error}") from self._recorder.error
        return path

    def __enter__(self) -> SessionRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
