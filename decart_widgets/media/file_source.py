"""``FileSource``: a video file, decoded with PyAV and resampled to the model's fps."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import InvalidInputError
from ._fit import black_frame, check_fit, fit_frame, readonly
from .sources import Source

log = logging.getLogger(__name__)

__all__ = ["FileSource"]

_EPS = 1e-6
#: Further ahead than this (seconds) a read seeks instead of decoding forward.
_SEEK_AHEAD = 2.0


class FileSource(Source):
    """A video file as the source, played at the model's frame rate.

    Each frame is the file frame on screen at that moment: for stream time
    ``t`` (seconds since the stream started) the frame with the latest
    timestamp ``<= start + t``. A file with more frames per second than the
    model has frames skipped, one with fewer has frames repeated; the
    file's own timing is kept either way (a 10 s clip plays in 10 s).

    - ``loop=True`` (default): time wraps at the end of the file, which
      plays again from the beginning (a seek; no gap).
    - ``loop=False``: at the end the last frame is held and :attr:`ended`
      becomes True.
    - ``start``: seconds into the file to begin at.
    - ``fit``: how the file's frames are fitted to the model's size:
      ``"letterbox"`` (default: aspect kept, black bars), ``"crop"`` (aspect
      kept, centre-cropped to fill) or ``"stretch"``. Rotation metadata
      (phone videos) is applied first.

    Decoding is lazy and on the caller's thread (the session's event loop):
    a read decodes only up to the frame it needs (one or two frames at
    matching rates), and only the frame shown is converted to RGB; the file
    is never read into memory. A jump (``start``, a late stream) of more
    than two seconds seeks instead of decoding forward; after a seek the
    frames from the preceding keyframe are decoded once.

    A frame that repeats is the same read-only array: copy it before
    drawing on it. A missing or undecodable file raises
    :class:`~decart_widgets.errors.InvalidInputError` here, on construction.
    ``close()`` closes the file (idempotent; later reads hold the last frame).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: bool = True,
        fit: str = "letterbox",
        start: float = 0.0,
    ) -> None:
        self._fit = check_fit(fit)
        if not isinstance(start, (int, float)) or not math.isfinite(start) or start < 0:
            raise InvalidInputError(f"start must be a number of seconds >= 0, got {start!r}")
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"FileSource takes the path of a video file, got {type(path).__name__}")
        name = os.fspath(path)
        if "://" not in name:  # a URL goes to FFmpeg as is
            p = Path(name).expanduser()
            if not p.is_file():
                why = "is a directory" if p.is_dir() else "does not exist"
                raise InvalidInputError(f"video file {name!r} {why}")
            name = str(p)
        self.path = name
        self._loop = bool(loop)
        self._start = float(start)
        self._container: Any = None
        self._stream: Any = None
        self._frames: Any = None  # the decode generator of the current pass
        self._first_time = 0.0  # file timestamp of the first frame (0 for most files)
        self._cur: tuple[float, Any] | None = None  # (file time, frame) on screen
        self._next: tuple[float, Any] | None = None  # the decoded frame after it
        self._last_time: float | None = None  # time of the last frame decoded
        self._last_frame: Any = None  # the last frame decoded
        self._fitted: np.ndarray | None = None
        self._fitted_of: Any = None  # the frame _fitted was made from
        self._closed = False
        self._warned = False
        #: Seconds in one pass of the file (last frame's time + its duration);
        #: the container's estimate until the end has been decoded once.
        self.duration: float | None = None
        self._duration_exact = False
        #: True once ``loop=False`` playback has passed the end (last frame held).
        self.ended = False
        #: Frames decoded so far (shown or skipped).
        self.frames_decoded = 0
        #: Times the file was (re)started by a seek: loops, ``start``, jumps.
        self.seeks = 0
        self._open()

    # ------------------------------------------------------------ the file

    def _open(self) -> None:
        try:
            container = av.open(self.path, mode="r")
        except (av.FFmpegError, OSError) as exc:
            raise InvalidInputError(f"cannot open {self.path!r} as a video: {exc}") from exc
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            container.close()
            raise InvalidInputError(f"{self.path!r} has no video stream (streams: {kinds})")
        self._container = container
        self._stream = stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        #: The file's frame rate (frames per second), or None when unknown.
        self.frame_rate: float | None = float(rate) if rate else None
        #: ``(width, height)`` of the file's frames as stored.
        self.video_size = (stream.codec_context.width, stream.codec_context.height)
        if self._duration_exact:
            pass  # reopened after a failed seek: the length is known
        elif stream.duration is not None and stream.time_base is not None:
            self.duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            self.duration = container.duration / av.time_base
        self._frames = container.decode(stream)
        self._first_time, self._last_time = 0.0, None
        first = self._decode()
        if first is None:
            container.close()
            raise InvalidInputError(f"{self.path!r} has a video stream but no decodable frame")
        self._first_time = first[0]
        self._next = (0.0, first[1])
        self._last_time = 0.0
        self._cur = None

    def _decode(self) -> tuple[float, Any] | None:
        """The next frame of this pass as (file time, frame), or None at its end."""
        try:
            frame = next(self._frames)
        except StopIteration:
            frame = None
        except av.FFmpegError as exc:  # a damaged file: end the pass here
            if not self._warned:
                self._warned = True
                log.warning("FileSource %r: decoding stopped early: %s", self.path, exc)
            frame = None
        if frame is None:
            self._at_end()
            return None
        self.frames_decoded += 1
        self._last_frame = frame
        if frame.time is not None:
            ft = frame.time - self._first_time
        elif self._last_time is not None:
            ft = self._last_time + self._frame_interval()
        else:
            ft = 0.0
        self._last_time = ft
        return ft, frame

    def _frame_interval(self, frame: Any = None) -> float:
        if frame is not None and frame.duration and frame.time_base is not None:
            return float(frame.duration * frame.time_base)
        if self.frame_rate:
            return 1.0 / self.frame_rate
        return 1.0 / (self.fps or 30.0)

    def _at_end(self) -> None:
        """The pass reached the end: now the file's length is known exactly."""
        if self._duration_exact or self._last_time is None:
            return
        self.duration = self._last_time + self._frame_interval(self._last_frame)
        self._duration_exact = True

    def _seek(self, target: float) -> None:
        """Restart decoding at the keyframe at or before file time ``target``."""
        self.seeks += 1
        self._cur = self._next = None
        self._last_time = None
        stream = self._stream
        try:
            if target <= _EPS:
                self._container.seek(0)
            else:
                ts = int((self._first_time + target) / stream.time_base)
                self._container.seek(ts, stream=stream, backward=True)
        except (av.FFmpegError, OSError, TypeError, ZeroDivisionError) as exc:
            log.debug("FileSource %r: seek failed (%s); reopening", self.path, exc)
            self._container.close()
            self._open()  # back at the first frame
            return
        self._frames = self._container.decode(stream)
        self._next = self._decode()

    # ------------------------------------------------------------ the source

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        self._fitted = self._fitted_of = None
        self._black = black_frame(width, height)

    async def read(self, index: int, t: float) -> np.ndarray:
        if self.width == 0:
            raise RuntimeError("configure() the source before reading")
        if not self._closed:
            self._advance(self._start + t)
        if self._cur is None:
            return self._fitted if self._fitted is not None else self._black
        frame = self._cur[1]
        if frame is not self._fitted_of:
            self._fitted = readonly(fit_frame(_to_rgb(frame), self.width, self.height, self._fit))
            self._fitted_of = frame
        return self._fitted  # type: ignore[return-value]

    def _advance(self, target: float) -> None:
        """Make ``_cur`` the frame on screen at file time ``target``."""
        for _ in range(2):  # twice only when the first pass found the file's end
            if self._duration_exact and self.duration:
                if self._loop:
                    target %= self.duration
                elif target >= self.duration - _EPS:
                    self.ended = True
                    return  # hold the last frame
            cur, nxt = self._cur, self._next
            if (cur is not None and target < cur[0] - _EPS) or (
                nxt is not None and target - nxt[0] > _SEEK_AHEAD
            ):
                self._seek(target)  # backwards (a loop, a new stream) or far ahead
            while self._next is not None and self._next[0] <= target + _EPS:
                self._cur = self._next
                self._next = self._decode()
            if self._cur is None and self._next is not None:
                # a seek landed after the target: show what there is
                self._cur = self._next
                self._next = self._decode()
            if not (self._next is None and self._duration_exact and self.duration):
                return
            if target < self.duration - _EPS:
                return  # the last frame is on screen until the end
            # the end was just found and the target lies past it: wrap or hold

    @property
    def position(self) -> float | None:
        """File time (seconds from the first frame) of the frame on screen."""
        return self._cur[0] if self._cur is not None else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._frames = None
        self._next = None
        if self._container is not None:
            self._container.close()


def _to_rgb(frame: Any) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    rotation = getattr(frame, "rotation", 0) or 0
    k = int(round(rotation / 90.0)) % 4
    if k:  # the display matrix: rotate counterclockwise by `rotation` degrees
        rgb = np.ascontiguousarray(np.rot90(rgb, k))
    return rgb
