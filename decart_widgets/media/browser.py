"""``BrowserCameraSource``: the frames a browser camera pushes into the kernel.

The widget's transports push camera frames here (RGB arrays decoded from
JPEG by the comm transport, ``av.VideoFrame`` objects received by the WebRTC
transport); the session's pump sends each one as it arrives (a
:class:`~decart_widgets.media.sources.LiveSource`).

- Newest frame wins: a frame pushed before the previous one was read
  replaces it and is counted in :attr:`frames_dropped`.
- Frames are **letterboxed** to the model size (``media/_fit.py``): scaled
  to fit with the aspect ratio kept, centred, black bars on the sides that
  do not fill (a 4:3 camera on a 16:9 model gets pillarbox bars).
- Before the first frame (or after :meth:`reset`), ``read`` returns a dark
  frame saying "waiting for camera", so the pump never blocks.
- The source does not mirror: it says whether it should be
  (:attr:`mirror_default`, from :attr:`selfie`), and the session's pump,
  connected with ``mirror="auto"``, flips its frames.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from ..common.slot import LatestSlot
from ._fit import WAITING_FOR_CAMERA, fit_frame, fit_video_frame, message_frame
from .sources import LiveSource

__all__ = ["BrowserCameraSource"]


class BrowserCameraSource(LiveSource):
    """A :class:`~decart_widgets.media.sources.LiveSource` fed by a browser camera.

    Thread-safe: ``push``/``push_frame`` may be called from any thread while
    the session's pump reads on the media loop.
    """

    def __init__(self) -> None:
        self._pending: LatestSlot[Any] = LatestSlot()  # ndarray or av.VideoFrame
        self._last_item: Any = None  # the last camera frame read, as pushed
        self._last: np.ndarray | None = None  # it letterboxed to RGB, made when asked
        self._waiting: np.ndarray | None = None
        #: The camera faces the user and is shown mirrored (a selfie view):
        #: the session's ``mirror="auto"`` then flips its frames.
        self.selfie = False
        #: Frames read by the pump (the distinct camera frames it sent).
        self.frames_read = 0
        #: Size of the last pushed frame, ``(width, height)``.
        self.input_size: tuple[int, int] | None = None

    @property
    def mirror_default(self) -> bool:  # type: ignore[override]
        """Mirror with ``mirror="auto"``: a selfie camera's pictures, never
        the "waiting for camera" frame."""
        return self.selfie and self.has_camera

    @property
    def frames_pushed(self) -> int:
        """Frames pushed by the browser."""
        return self._pending.puts

    @property
    def frames_dropped(self) -> int:
        """Frames replaced by a newer one before the pump read them."""
        return self._pending.replaced

    # ----------------------------------------------------------- producers

    def push(self, rgb: np.ndarray) -> None:
        """Offer an ``HxWx3 uint8`` RGB frame (any size); newest frame wins."""
        if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
            raise ValueError("push() needs an HxWx3 uint8 RGB array")
        self.input_size = (rgb.shape[1], rgb.shape[0])
        self._pending.put(rgb)

    def push_frame(self, frame: Any) -> None:
        """Offer an ``av.VideoFrame`` (converted lazily, only if the pump reads it)."""
        self.input_size = (frame.width, frame.height)
        self._pending.put(frame)

    def reset(self) -> None:
        """Forget the camera (it stopped): show "waiting for camera" again."""
        self._pending.clear()
        self._last_item = None
        self._last = None

    @property
    def has_camera(self) -> bool:
        return self._last_item is not None or bool(self._pending)

    # ------------------------------------------------------------- consumer

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        self._waiting = message_frame(width, height, WAITING_FOR_CAMERA)
        self._last = None  # a new size: fit the next frame again

    async def wait_frame(self, timeout: float) -> bool:
        return await self._pending.wait_async(timeout)

    def _take(self) -> None:
        item = self._pending.take_nowait()
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
        """The camera frame as received, when it is a yuv420p VideoFrame of the
        model's size; else None. Skips yuv→RGB→yuv and a copy per frame
        (about 3 ms at 720p) when nothing in the kernel needs the pixels."""
        self._take()
        item = self._last_item
        if (
            isinstance(item, av.VideoFrame)
            and (item.width, item.height) == (self.width, self.height)
            and item.format.name == "yuv420p"
        ):
            return item
        return None

    def _fit(self, item: Any) -> np.ndarray:
        if isinstance(item, np.ndarray):
            return fit_frame(item, self.width, self.height)
        return fit_video_frame(item, self.width, self.height)

    def close(self) -> None:
        """Drop the pending frame. The source stays usable: the widget keeps
        one camera source across sessions (a model switch closes the old
        session, which closes its source)."""
        self._pending.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "camera_frames_pushed": self.frames_pushed,
            "camera_frames_dropped": self.frames_dropped,
            "camera_frames_read": self.frames_read,
            "camera_size": list(self.input_size) if self.input_size else None,
        }
