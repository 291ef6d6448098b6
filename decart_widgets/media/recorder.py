"""MP4 recording (H.264 via PyAV) on a writer thread of its own, so encoding
never runs on the media loop.

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

from .convert import frame_copy_yuv, ndarray_to_frame

log = logging.getLogger(__name__)

__all__ = ["Recorder"]

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
