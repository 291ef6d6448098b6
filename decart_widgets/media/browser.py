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
- Over WebRTC the camera's frames also arrive encoded (:attr:`encoded`, fed
  by the camera view's receiver): a session on the aiortc link forwards
  them to the model without decoding while nothing needs their pixels, and
  the camera is then not decoded at all.
- The source does not mirror (the widget mirrors the camera preview and
  the output in the browser): it says whether it is a selfie view
  (:attr:`mirror_default`, from :attr:`selfie`) for a session connected
  with ``mirror="auto"``, which then flips its frames in the pump.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from ..common.slot import LatestSlot
from ._fit import WAITING_FOR_CAMERA, fit_frame, fit_video_frame, message_frame
from .forwarding import EncodedFeed
from .sources import LiveSource

__all__ = ["BrowserCameraSource"]


class BrowserCameraSource(LiveSource):
    """A :class:`~decart_widgets.media.sources.LiveSource` fed by a browser camera.

    Thread-safe: ``push``/``push_frame`` may be called from any thread while
    the session's pump reads on the media loop.
    """

    #: The camera's encoded frames (over WebRTC), for forwarding.
    encoded: EncodedFeed

    def __init__(self) -> None:
        self._pending: LatestSlot[Any] = LatestSlot()  # ndarray or av.VideoFrame
        self._last_item: Any = None  # the last camera frame read, as pushed
        self._last: np.ndarray | None = None  # it letterboxed to RGB, made when asked
        self._waiting: np.ndarray | None = None
        #: The camera faces the user (a selfie view): a session connected
        #: with ``mirror="auto"`` flips its frames. The widget leaves it False
        #: and mirrors in the browser instead.
        self.selfie = False
        self._feed = self.encoded = EncodedFeed()
        self._frames_decoded_read = 0
        self._pushed_counted_encoded = 0
        #: Size of the last pushed frame, ``(width, height)``.
        self.input_size: tuple[int, int] | None = None

    @property
    def mirror_default(self) -> bool:  # type: ignore[override]
        """Mirror with ``mirror="auto"``: a selfie camera's pictures, never
        the "waiting for camera" frame."""
        return self.selfie and self.has_camera

    @property
    def frames_pushed(self) -> int:
        """Camera frames that arrived (decoded or encoded, each counted once)."""
        return self._pending.puts - self._pushed_counted_encoded + self._feed.frames

    @property
    def frames_read(self) -> int:
        """Camera frames the session sent on: read by the pump, or forwarded encoded."""
        return self._frames_decoded_read + self._feed.forwarded

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
        if self._feed.tap is not None:
            self._pushed_counted_encoded += 1  # its encoded form was counted as it arrived
        self._pending.put(frame)

    def reset(self) -> None:
        """Forget the camera (it stopped): show "waiting for camera" again."""
        self._pending.clear()
        self._last_item = None
        self._last = None

    def forget_frames(self) -> None:
        """Drop the decoded frames held (the pump forwarded newer encoded ones):
        the next frame read is one decoded from now on."""
        self.reset()

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
            self._frames_decoded_read += 1

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
            "camera_frames_forwarded": self._feed.forwarded,
            "camera_size": list(self.input_size) if self.input_size else None,
        }
