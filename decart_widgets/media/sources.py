"""Frame sources: what a session sends to the model.

A source produces ``HxWx3 uint8`` RGB frames at the size it is configured
for. The session's pump does the pacing (the model's fps) and asks the
source for a frame each tick, so a source never needs its own clock.
Further sources (file, numpy, image, camera) plug in by implementing
:class:`Source`. A source whose frames arrive from outside at their own
pace (the browser camera) implements :class:`LiveSource` instead: the pump
then sends each frame as it arrives.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..common.stamp import stamp
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from .forwarding import EncodedFeed

__all__ = ["Source", "LiveSource", "TestPatternSource"]

DEFAULT_LABEL = "decart-widgets test pattern"
_PREPARE_LOCK = threading.Lock()


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


class LiveSource(Source):
    """A source whose frames arrive on their own clock (a browser camera).

    The pump sends a live source's frames as they arrive, at most ``fps`` a
    second, instead of on a clock of its own: two free-running 30 fps clocks
    beat against each other (a repeated frame here, a dropped one there)
    and a frame would wait up to a frame interval for the next tick. With
    no new frame for a while the pump sends the last one again.
    """

    #: The source's frames as they arrived encoded, when it has them (the
    #: browser camera over WebRTC): the session's aiortc link then sends
    #: them on without decoding while nothing needs their pixels.
    encoded: EncodedFeed | None = None

    async def wait_frame(self, timeout: float) -> bool:
        """Wait until a new frame is there (True) or ``timeout`` passes (False)."""
        raise NotImplementedError

    async def read_frame(self, index: int, t: float) -> Any:
        """The newest frame as received, when it can go to the encoder as it
        is (a yuv420p ``av.VideoFrame`` of the configured size); else None,
        and the pump calls :meth:`read`. Asked only while nothing in the
        kernel needs the pixels; it saves a yuv→RGB→yuv round trip."""
        return None

    def forget_frames(self) -> None:
        """Drop the frames held: the pump sent :attr:`encoded` frames
        meanwhile, so the decoded ones held are older than what went out."""


class TestPatternSource(Source):
    """A moving, textured test pattern with the frame counter stamped into it.

    The stamp (see :mod:`decart_widgets.common.stamp`) lets the receiving side match
    each output frame to the input frame that made it: end-to-end latency and
    frame loss are measured from it. The big printed number is for people.
    """

    __test__ = False  # not a pytest class

    def __init__(self, *, label: str = DEFAULT_LABEL) -> None:
        self._label = label
        self._texture: np.ndarray | None = None
        self._frame: np.ndarray | None = None

    def configure(self, width: int, height: int, fps: float) -> None:
        if width < 80 or height < 60:
            raise InvalidInputError(f"test pattern needs at least 80x60, got {width}x{height}")
        super().configure(width, height, fps)
        self._texture = self.prepare(width, height, self._label)
        self._frame = np.empty((height, width, 3), np.uint8)

    @classmethod
    def prepare(cls, width: int, height: int, label: str = DEFAULT_LABEL) -> np.ndarray:
        """Build (once per process) what the pattern draws from at this size:
        its texture and every glyph. Rendered here, on the caller's thread, so
        the media loop never calls cv2.putText (its first call in a thread
        costs 20-30 ms); ``decart_widgets`` warms this up ahead of need."""
        with _PREPARE_LOCK:  # a warm-up thread may be building the same now
            texture = _texture(width, height)
            scale = height / 360.0
            for ch in "0123456789":
                _glyph(ch, *cls._digit_style(scale))
            _glyph(label, *cls._label_style(scale))
        return texture

    @staticmethod
    def _digit_style(scale: float) -> tuple[float, int, int]:
        return 2.2 * scale, int(9 * scale) + 1, int(3 * scale) + 1

    @staticmethod
    def _label_style(scale: float) -> tuple[float, int, int]:
        return 0.6 * scale, 0, max(1, int(scale))

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
        # text from glyphs rendered in configure(): see there
        x, base = int(20 * scale), int(h * 0.62)
        for ch in f"{index:06d}":
            x += _draw_text(frame, ch, x, base, *self._digit_style(scale))
        _draw_text(frame, self._label, int(20 * scale), int(h * 0.12), *self._label_style(scale))
        return stamp(frame, index)


@functools.lru_cache(maxsize=4)
def _texture(width: int, height: int) -> np.ndarray:
    """A read-only texture twice as wide as the frame; each frame is a moving
    window into it (a view and one copy), so a frame costs ~1 ms at 720p.
    Cached, and cheap to build (~4 ms at 720p): the first connect() in a
    process builds it on the caller's thread, and float math over the whole
    texture cost that connect 40-140 ms."""
    # smooth waves (periods of 30+ px) computed at 1/8 size, upscaled bilinearly
    f = 8
    sw, sh = -(-2 * width // f), -(-height // f)
    x = (np.arange(sw, dtype=np.float32)[None, :] + 0.5) * f
    y = (np.arange(sh, dtype=np.float32)[:, None] + 0.5) * f
    small = np.empty((sh, sw, 3), np.float32)
    small[..., 0] = 127 + 100 * np.sin(x / 37) * np.cos(y / 53)
    small[..., 1] = 127 + 100 * np.sin((x + y) / 71)
    small[..., 2] = 127 + 100 * np.cos(np.hypot(x - width, y - height / 2) / 29)
    tex = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (2 * width, height), interpolation=cv2.INTER_LINEAR)
    # grain of +-8: one random tile repeated (cheap; still defeats flat-colour coding)
    tile = np.random.default_rng(7).integers(0, 17, (128, 128, 3), dtype=np.uint8)
    reps = (-(-height // 128), -(-2 * width // 128), 1)
    tex = cv2.subtract(cv2.add(tex, np.tile(tile, reps)[:height, : 2 * width]), np.full_like(tex, 8))
    bars = np.array(
        [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0],
         [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]], dtype=np.uint8,
    )
    bar_h = height // 6
    bar_w = (2 * width) // 16
    for i in range(16):
        tex[height - bar_h :, i * bar_w : (i + 1) * bar_w] = bars[i % 8]
    tex.flags.writeable = False
    return tex


@functools.lru_cache(maxsize=64)
def _glyph(text: str, font_scale: float, outline: int, fill: int) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """``text`` drawn white over a black outline, once: (RGB value ``h x w x 3``,
    uint8 mask ``h x w``, origin x, origin y, advance). The origin is where
    cv2.putText's text origin falls inside the arrays."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(outline, fill)
    (tw, th), descent = cv2.getTextSize(text, font, font_scale, thick)
    pad = thick + 2
    h, w = th + descent + 2 * pad, tw + 2 * pad
    ox, oy = pad, th + pad
    body = np.zeros((h, w), np.uint8)
    cv2.putText(body, text, (ox, oy), font, font_scale, 255, fill, cv2.LINE_AA)
    shape: np.ndarray = body
    if outline > fill:
        # the outline grows the glyph (OpenCV 5's font engine does not
        # thicken its outlines the way the old Hershey strokes did)
        k = (outline - fill) // 2 | 1
        shape = cv2.dilate(body, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # hard-edged: a copy under a mask is ~5x cheaper than alpha blending
    mask = (np.maximum(shape, body) >= 128).astype(np.uint8)
    value = np.repeat(np.where(body >= 128, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
    (advance, _), _ = cv2.getTextSize(text, font, font_scale, fill)
    return value, mask, ox, oy, advance


def _draw_text(frame: np.ndarray, text: str, x: int, y: int, font_scale: float, outline: int, fill: int) -> int:
    """Composite ``text`` with its origin at (x, y) like cv2.putText; returns the advance."""
    value, mask, ox, oy, advance = _glyph(text, font_scale, outline, fill)
    top, left = y - oy, x - ox
    gh, gw = mask.shape[:2]
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(frame.shape[0], top + gh), min(frame.shape[1], left + gw)
    if y1 > y0 and x1 > x0:
        # cv2.copyTo writes into the frame's view in place (10x numpy's copyto(where=))
        cv2.copyTo(
            value[y0 - top : y1 - top, x0 - left : x1 - left],
            mask[y0 - top : y1 - top, x0 - left : x1 - left],
            frame[y0:y1, x0:x1],
        )
    return advance
