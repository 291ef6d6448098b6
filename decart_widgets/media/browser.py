"""``BrowserCameraSource``: the frames a browser camera pushes into the kernel.

The widget's transports push camera frames here (RGB arrays decoded from
JPEG by the comm transport, ``av.VideoFrame`` objects received by the WebRTC
transport); the session's track reads them at the model's fps.

- Newest frame wins: a frame pushed before the previous one was read
  replaces it and is counted in :attr:`frames_dropped`.
- Frames are **letterboxed** to the model size: scaled to fit with the aspect
  ratio kept, centred, black bars on the sides that do not fill (a 4:3 camera
  on a 16:9 model gets pillarbox bars), never stretched or cropped.
- Before the first frame (or after :meth:`reset`), ``read`` returns a dark
  frame saying "waiting for camera", so the track never blocks.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import av
import cv2
import numpy as np

from .sources import Source

__all__ = ["BrowserCameraSource", "letterbox_rect"]

WAITING_TEXT = "waiting for camera"


def letterbox_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a ``src_w x src_h`` image fitted into ``dst_w x dst_h``
    with its aspect ratio kept and centred (even sizes, for yuv420p)."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w = min(dst_w, max(2, int(round(src_w * scale / 2)) * 2))
    h = min(dst_h, max(2, int(round(src_h * scale / 2)) * 2))
    return (dst_w - w) // 2, (dst_h - h) // 2, w, h


class BrowserCameraSource(Source):
    """A :class:`~decart_widgets.media.sources.Source` fed by a browser camera.

    Thread-safe: ``push``/``push_frame`` may be called from any thread while
    the session's track reads on the media loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Any = None  # newest unread frame: ndarray or av.VideoFrame
        self._last_item: Any = None  # the last camera frame read, as pushed
        self._last: np.ndarray | None = None  # it letterboxed to RGB, made when asked
        self._waiting: np.ndarray | None = None
        #: Mirror frames left-right before they go to the model (selfie view).
        self.mirror = False
        #: Frames pushed by the browser.
        self.frames_pushed = 0
        #: Frames replaced by a newer one before the track read them.
        self.frames_dropped = 0
        #: Distinct camera frames the track has read.
        self.frames_read = 0
        #: Size of the last pushed frame, ``(width, height)``.
        self.input_size: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None

    # ----------------------------------------------------------- producers

    def push(self, rgb: np.ndarray) -> None:
        """Offer an ``HxWx3 uint8`` RGB frame (any size); newest frame wins."""
        if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
            raise ValueError("push() needs an HxWx3 uint8 RGB array")
        self._offer(rgb, rgb.shape[1], rgb.shape[0])

    def push_frame(self, frame: Any) -> None:
        """Offer an ``av.VideoFrame`` (converted lazily, only if the track reads it)."""
        self._offer(frame, frame.width, frame.height)

    def _offer(self, item: Any, w: int, h: int) -> None:
        with self._lock:
            if self._pending is not None:
                self.frames_dropped += 1
            self._pending = item
            self.frames_pushed += 1
            self.input_size = (w, h)
            loop, arrived = self._loop, self._arrived
        if loop is not None and arrived is not None:
            try:
                loop.call_soon_threadsafe(arrived.set)
            except RuntimeError:  # the reader's loop has closed
                pass

    async def wait_frame(self, timeout: float) -> bool:
        """Wait until a camera frame is pending (True) or ``timeout`` passes.

        The session's pump sends browser frames when they arrive instead of on
        a clock of its own: two free-running 30 fps clocks beat against each
        other (a repeated frame here, a dropped one there) and a frame would
        wait up to a frame interval for the next tick.
        """
        if self._arrived is None:
            self._loop, self._arrived = asyncio.get_running_loop(), asyncio.Event()
        if self._pending is not None:
            return True
        self._arrived.clear()
        if self._pending is not None:
            return True
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def reset(self) -> None:
        """Forget the camera (it stopped): show "waiting for camera" again."""
        with self._lock:
            self._pending = None
            self._last_item = None
            self._last = None

    @property
    def has_camera(self) -> bool:
        return self._last_item is not None or self._pending is not None

    # ------------------------------------------------------------- consumer

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        self._waiting = _waiting_frame(width, height)
        with self._lock:
            self._last = None  # a new size: re-fit the next frame

    def _take(self) -> None:
        with self._lock:
            item, self._pending = self._pending, None
        if item is not None:
            self._last_item, self._last = item, None
            self.frames_read += 1

    async def read(self, index: int, t: float) -> np.ndarray:
        self._take()
        if self._last is None and self._last_item is not None:
            self._last = self._fit(self._last_item)
        frame = self._last if self._last is not None else self._waiting
        if frame is None:
            raise RuntimeError("configure() the source before reading")
        return frame.copy()  # consumers (taps) may keep or write into it

    async def read_frame(self, index: int, t: float) -> Any:
        """The camera frame as received, when it can go to the encoder as it is
        (a yuv420p VideoFrame of the model's size, not mirrored); else None.

        Skips yuv→RGB→yuv and a copy per frame (about 3 ms at 720p) when
        nothing in the kernel needs the pixels.
        """
        self._take()
        item = self._last_item
        if (
            isinstance(item, av.VideoFrame)
            and not self.mirror
            and (item.width, item.height) == (self.width, self.height)
            and item.format.name == "yuv420p"
        ):
            return item
        return None

    def _fit(self, item: Any) -> np.ndarray:
        w, h = self.width, self.height
        if isinstance(item, np.ndarray):
            src_h, src_w = item.shape[:2]
            x, y, fw, fh = letterbox_rect(src_w, src_h, w, h)
            if (fw, fh) == (src_w, src_h):
                fitted = item
            else:
                interp = cv2.INTER_AREA if fw < src_w else cv2.INTER_LINEAR
                fitted = cv2.resize(item, (fw, fh), interpolation=interp)
        else:  # av.VideoFrame: let swscale resize and convert in one pass
            x, y, fw, fh = letterbox_rect(item.width, item.height, w, h)
            fitted = item.to_ndarray(width=fw, height=fh, format="rgb24")
        if self.mirror:
            fitted = fitted[:, ::-1]
        if (fw, fh) == (w, h):
            return np.ascontiguousarray(fitted)
        out = np.zeros((h, w, 3), np.uint8)
        out[y : y + fh, x : x + fw] = fitted
        return out

    def close(self) -> None:
        """Drop the pending frame. The source stays usable: the widget keeps
        one camera source across sessions (a model switch closes the old
        session, which closes its source)."""
        with self._lock:
            self._pending = None

    def stats(self) -> dict[str, Any]:
        return {
            "camera_frames_pushed": self.frames_pushed,
            "camera_frames_dropped": self.frames_dropped,
            "camera_frames_read": self.frames_read,
            "camera_size": list(self.input_size) if self.input_size else None,
        }


def _waiting_frame(width: int, height: int) -> np.ndarray:
    frame = np.full((height, width, 3), 24, np.uint8)
    scale = max(0.5, height / 360.0)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(WAITING_TEXT, font, 1.0 * scale, max(1, int(2 * scale)))
    org = ((width - tw) // 2, (height + th) // 2)
    cv2.putText(frame, WAITING_TEXT, org, font, 1.0 * scale, (200, 200, 200), max(1, int(2 * scale)), cv2.LINE_AA)
    return frame
