"""Frame sources: what a session sends to the model.

A source produces ``HxWx3 uint8`` RGB frames at the size it is configured
for. The session's track does the pacing (the model's fps) and asks the
source for a frame each tick, so a source never needs its own clock.
Further sources (file, numpy, image, camera, browser) plug in by
implementing :class:`Source`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..stamp import stamp

__all__ = ["Source", "TestPatternSource"]


class Source:
    """Base class of frame sources.

    ``configure`` is called once with the model's frame size and fps before
    the first ``read``; ``read(index, t)`` returns the frame for tick
    ``index`` at ``t`` seconds since the stream started; ``close`` releases
    whatever the source holds and must be idempotent.
    """

    width: int = 0
    height: int = 0
    fps: float = 0.0
    #: True for selfie-style cameras: ``mirror="auto"`` flips their frames.
    mirror_default: bool = False

    def configure(self, width: int, height: int, fps: float) -> None:
        self.width, self.height, self.fps = width, height, fps

    async def read(self, index: int, t: float) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TestPatternSource(Source):
    """A moving, textured test pattern with the frame counter stamped into it.

    The stamp (see :mod:`decart_widgets.stamp`) lets the receiving side match
    each output frame to the input frame that made it: end-to-end latency and
    frame loss are measured from it. The big printed number is for people.
    """

    __test__ = False  # not a pytest class

    def __init__(self, *, label: str = "decart-widgets test pattern") -> None:
        self._label = label
        self._texture: np.ndarray | None = None
        self._frame: np.ndarray | None = None

    def configure(self, width: int, height: int, fps: float) -> None:
        if width < 80 or height < 60:
            raise InvalidInputError(f"test pattern needs at least 80x60, got {width}x{height}")
        super().configure(width, height, fps)
        # A texture twice as wide as the frame; each frame is a moving window
        # into it (a view and one copy), so per-frame cost stays ~1 ms at 720p.
        yy, xx = np.mgrid[0:height, 0 : 2 * width].astype(np.float32)
        r = 127 + 100 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
        g = 127 + 100 * np.sin((xx + yy) / 71.0)
        b = 127 + 100 * np.cos(np.hypot(xx - width, yy - height / 2) / 29.0)
        tex = np.stack([r, g, b], axis=-1)
        rng = np.random.default_rng(7)
        tex += rng.normal(0, 8, tex.shape).astype(np.float32)
        bars = np.array(
            [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0],
             [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]], dtype=np.float32,
        )
        bar_h = height // 6
        bar_w = (2 * width) // 16
        for i in range(16):
            tex[height - bar_h :, i * bar_w : (i + 1) * bar_w] = bars[i % 8]
        self._texture = np.clip(tex, 0, 255).astype(np.uint8)
        self._frame = np.empty((height, width, 3), np.uint8)

    async def read(self, index: int, t: float) -> np.ndarray:
        return self.render(index)

    def render(self, index: int) -> np.ndarray:
        """The frame for ``index`` (a new array each call: consumers may keep it)."""
        if self._texture is None:
            raise RuntimeError("configure() the source before reading")
        w, h = self.width, self.height
        offset = (index * 4) % w
        frame = self._texture[:, offset : offset + w].copy()
        # a ball on a circle: motion the eye (and a codec) can follow
        cx = int(w / 2 + (w / 3) * math.cos(index / 20.0))
        cy = int(h / 2 + (h / 4) * math.sin(index / 20.0))
        cv2.circle(frame, (cx, cy), max(8, h // 12), (255, 80, 40), -1, lineType=cv2.LINE_AA)
        scale = h / 360.0
        cv2.putText(frame, f"{index:06d}", (int(20 * scale), int(h * 0.62)),
                    cv2.FONT_HERSHEY_SIMPLEX, 2.2 * scale, (0, 0, 0), int(9 * scale) + 1, cv2.LINE_AA)
        cv2.putText(frame, f"{index:06d}", (int(20 * scale), int(h * 0.62)),
                    cv2.FONT_HERSHEY_SIMPLEX, 2.2 * scale, (255, 255, 255), int(3 * scale) + 1, cv2.LINE_AA)
        cv2.putText(frame, self._label, (int(20 * scale), int(h * 0.12)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), max(1, int(scale)), cv2.LINE_AA)
        return stamp(frame, index)
