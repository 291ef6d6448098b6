"""``CameraSource``: a camera attached to the kernel's machine, through PyAV.

For a camera in the user's browser (the usual case in a remote notebook)
use the widget's browser camera instead; this is for a kernel running on
the machine the camera is plugged into.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
import threading
import time
from typing import Any

import av
import numpy as np

from ..common.slot import LatestSlot
from ..errors import InvalidInputError
from ._fit import WAITING_FOR_CAMERA, check_fit, fit_frame, message_frame, readonly
from .sources import Source

log = logging.getLogger(__name__)

__all__ = ["CameraSource", "CameraNotFoundError", "default_camera"]

_ERROR_TEXT = "camera unavailable"
_AUTO = "auto"
_JOIN_TIMEOUT = 2.0


class CameraNotFoundError(InvalidInputError):
    """No camera device where one was looked for (code ``INVALID_INPUT``)."""


def default_camera(device: Any = None) -> tuple[str, str, dict[str, str]]:
    """``(device, format, options)`` for this platform's camera API.

    Linux: ``v4l2`` on ``/dev/videoN`` (the lowest N present, or
    ``device=N``); macOS: ``avfoundation`` device ``"0"`` at 30 fps; Windows:
    ``dshow``, where the camera must be named (``"video=Integrated Camera"``).
    Raises :class:`CameraNotFoundError` where no such device exists.
    """
    if sys.platform.startswith("linux"):
        found = _video_devices()
        if device is None:
            if not found:
                raise CameraNotFoundError(
                    "no camera found on this machine: looked for /dev/video* (Linux v4l2) and "
                    "there are none. Connect a camera to the machine the kernel runs on, pass "
                    "device=..., or use the browser camera or a FileSource instead"
                )
            return found[0], "v4l2", {}
        path = f"/dev/video{device}" if isinstance(device, int) else str(device)
        if not os.path.exists(path):
            have = ", ".join(found) if found else "none"
            raise CameraNotFoundError(
                f"camera {path!r} does not exist (v4l2 devices on this machine: {have})"
            )
        if not os.access(path, os.R_OK):
            raise InvalidInputError(
                f"camera {path!r} exists but this user cannot read it (permission denied; "
                "on Linux the user usually needs to be in the 'video' group)"
            )
        return path, "v4l2", {}
    if sys.platform == "darwin":
        name = "0" if device is None else str(device)
        return name, "avfoundation", {"framerate": "30"}
    if sys.platform.startswith("win"):
        if device is None or isinstance(device, int):
            raise CameraNotFoundError(
                "on Windows the camera must be named: CameraSource('video=Integrated Camera'); "
                "list the names with: ffmpeg -list_devices true -f dshow -i dummy"
            )
        name = str(device)
        return (name if name.startswith("video=") else f"video={name}"), "dshow", {}
    raise CameraNotFoundError(f"no camera support for platform {sys.platform!r}; pass format=")


def _video_devices() -> list[str]:
    def number(path: str) -> int:
        m = re.search(r"(\d+)$", path)
        return int(m.group(1)) if m else 1 << 30

    return sorted(glob.glob("/dev/video*"), key=number)


class CameraSource(Source):
    """A camera device on the kernel's machine (not the browser's camera).

    ``device``: ``None`` for the default camera (Linux: the first
    ``/dev/videoN``; macOS: avfoundation ``"0"``; Windows needs a name), an
    int ``N`` (``/dev/videoN`` on Linux), or a device name/path.
    ``options`` are FFmpeg input options, e.g. ``{"video_size": "1280x720",
    "framerate": "30", "input_format": "mjpeg"}``. ``format`` is the FFmpeg
    input format; the default ``"auto"`` picks the platform's camera API,
    ``None`` lets FFmpeg probe ``device`` as a file or URL (a network camera
    such as ``rtsp://...``).

    A missing device raises :class:`CameraNotFoundError` (an
    :class:`~decart_widgets.errors.InvalidInputError`, code
    ``INVALID_INPUT``) on construction. The device is opened on
    ``configure`` by a background thread that decodes and fits each frame
    (``fit``: ``"letterbox"`` by default, aspect kept with black bars;
    ``"crop"``; ``"stretch"``) and keeps only the newest: ``read`` returns
    it at once (newest wins: frames the stream was too slow for are counted
    in :attr:`frames_dropped`), a dark "waiting for camera" frame before the
    first arrives. A failure to open or read the device is logged once and
    kept in :attr:`error`; the frames then say "camera unavailable". Frames
    are read-only: copy one before drawing on it.

    ``mirror_default = True``: a camera facing the user is shown mirrored
    (the session's ``mirror="auto"`` reads it). ``close()`` stops the
    thread and releases the device (idempotent); a later ``configure``
    opens it again.
    """

    mirror_default = True

    # Pace frames by their timestamps, like a live device delivers them:
    # for files opened through format=None (tests, demos). Off for devices.
    _realtime = False

    def __init__(
        self,
        device: Any = None,
        *,
        fit: str = "letterbox",
        options: dict[str, str] | None = None,
        format: str | None = _AUTO,
    ) -> None:
        self._fit = check_fit(fit)
        fmt: str | None
        if format == _AUTO:
            dev, fmt, opts = default_camera(device)
        else:
            if device is None:
                raise InvalidInputError(f"format={format!r} needs a device (a path, name or URL)")
            dev, fmt, opts = str(device), format, {}
            if fmt == "v4l2" and not os.path.exists(dev):
                raise CameraNotFoundError(f"camera {dev!r} does not exist")
        opts.update({str(k): str(v) for k, v in (options or {}).items()})
        #: What is opened: ``av.open(device, format=format, options=options)``.
        self.device, self.format, self.options = dev, fmt, opts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fresh: LatestSlot[np.ndarray] = LatestSlot()  # decoded, fitted, not read yet
        self._latest: np.ndarray | None = None  # the last frame read (repeated until a new one)
        self._waiting: np.ndarray | None = None
        self._error_frame: np.ndarray | None = None
        #: Distinct device frames ``read`` has returned.
        self.frames_read = 0
        #: The exception that stopped the device, or None.
        self.error: BaseException | None = None
        #: True when the device's stream ended (unplugged; the end of a file).
        self.ended = False
        #: ``(width, height)`` of the device's frames, once one arrived.
        self.input_size: tuple[int, int] | None = None

    @property
    def frames_captured(self) -> int:
        """Frames decoded from the device."""
        return self._fresh.puts

    @property
    def frames_dropped(self) -> int:
        """Frames replaced by a newer one before ``read`` took them."""
        return self._fresh.replaced

    # ------------------------------------------------------------ consumer

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        self._waiting = message_frame(width, height, WAITING_FOR_CAMERA)
        self._error_frame = message_frame(width, height, _ERROR_TEXT)
        self._start()

    async def read(self, index: int, t: float) -> np.ndarray:
        if self._waiting is None or self._error_frame is None:
            raise RuntimeError("configure() the source before reading")
        fresh = self._fresh.take_nowait()
        if fresh is not None:
            self._latest = fresh
            self.frames_read += 1
        frame = self._latest
        if frame is None:
            return self._error_frame if self.error is not None else self._waiting
        if frame.shape[:2] != (self.height, self.width):  # reconfigured since it was fitted
            frame = self._latest = readonly(fit_frame(frame, self.width, self.height, self._fit))
        return frame

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the reader thread and release the device (idempotent)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("camera %r did not stop within %.0f s (left to a daemon thread)",
                            self.device, _JOIN_TIMEOUT)

    # ------------------------------------------------------------ the thread

    def _start(self) -> None:
        if self.running:
            return
        self._stop = threading.Event()
        self.error, self.ended = None, False
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=f"decart-camera {self.device}", daemon=True
        )
        self._thread.start()

    def _open_container(self) -> Any:
        return av.open(self.device, format=self.format, options=self.options)

    def _run(self, stop: threading.Event) -> None:
        try:
            container = self._open_container()
        except Exception as exc:  # reported through .error
            self._fail(exc, "could not open")
            return
        try:
            if stop.is_set():
                return
            if not container.streams.video:
                raise InvalidInputError(f"{self.device!r} has no video stream")
            stream = container.streams.video[0]
            t0: float | None = None
            for frame in container.decode(stream):
                if stop.is_set():
                    return
                if self._realtime and frame.time is not None:
                    if t0 is None:
                        t0 = time.monotonic() - frame.time
                    delay = t0 + frame.time - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                self._offer(frame)
            self.ended = True
            log.info("camera %r: the stream ended", self.device)
        except Exception as exc:  # reported through .error
            if not stop.is_set():
                self._fail(exc, "stopped reading")
        finally:
            container.close()

    def _offer(self, frame: Any) -> None:
        self.input_size = (frame.width, frame.height)
        self._fresh.put(readonly(fit_frame(frame.to_ndarray(format="rgb24"), self.width, self.height, self._fit)))

    def _fail(self, exc: BaseException, what: str) -> None:
        self.error = exc
        log.error("camera %r (%s): %s: %s", self.device, self.format or "probe", what, exc)

