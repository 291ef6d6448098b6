"""Fit any picture to the model's frame size: the one place sources resize
(and the frames sources make up themselves: black, or a short message).

Rules (shared by every source with a ``fit=`` parameter):

- ``"letterbox"`` (the default): scale to fit inside the frame with the
  aspect ratio kept, centred, black bars on the sides that do not fill. The
  picture's size is rounded to even numbers when the frame's are even, so
  bars are equal and yuv420p chroma lines up.
- ``"crop"``: scale to fill the frame with the aspect ratio kept, the
  overflow cut off equally on both sides (centre crop).
- ``"stretch"``: scale each axis independently to the frame size.

Shrinking uses ``cv2.INTER_AREA`` (no aliasing), growing ``cv2.INTER_LINEAR``.
An array that already is ``height x width x 3`` contiguous ``uint8`` is
returned as is (no copy). A decoded video frame is letterboxed by
:func:`fit_video_frame`, which lets swscale resize and convert in one pass. Accepted pixels: ``HxWx3`` RGB, ``HxW`` or
``HxWx1`` grayscale, ``HxWx4`` RGBA (alpha dropped, not composited), as
``uint8`` or as floats in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "FIT_MODES", "check_fit", "as_rgb_uint8", "fit_frame", "fit_video_frame", "letterbox_rect",
    "black_frame", "message_frame", "readonly", "WAITING_FOR_CAMERA",
]

FIT_MODES = ("letterbox", "crop", "stretch")

ACCEPTED = (
    "HxWx3 RGB, HxW grayscale or HxWx4 RGBA arrays of uint8 (0-255) or floats in [0, 1]"
)


def check_fit(mode: str) -> str:
    """``mode`` if it is one of :data:`FIT_MODES`, else :class:`InvalidInputError`."""
    if mode not in FIT_MODES:
        raise InvalidInputError(f"fit must be one of {', '.join(map(repr, FIT_MODES))}, got {mode!r}")
    return mode


def as_rgb_uint8(image: Any) -> np.ndarray:
    """``image`` as a contiguous ``HxWx3 uint8`` RGB array (see module docs)."""
    if not isinstance(image, np.ndarray):
        if hasattr(image, "__array__") or hasattr(image, "__array_interface__"):
            image = np.asarray(image)  # PIL images, tensors on the CPU, ...
        else:
            raise InvalidInputError(f"expected a numpy array ({ACCEPTED}), got {type(image).__name__}")
    arr = image
    shape, dtype = arr.shape, arr.dtype
    if arr.ndim == 3 and shape[2] in (1, 3, 4):
        pass
    elif arr.ndim != 2:
        raise InvalidInputError(f"image array has shape {shape} dtype {dtype}; expected {ACCEPTED}")
    if arr.size == 0:
        raise InvalidInputError(f"image array is empty (shape {shape}); expected {ACCEPTED}")
    if dtype != np.uint8:
        if dtype.kind != "f":
            raise InvalidInputError(
                f"image array has shape {shape} dtype {dtype}; expected {ACCEPTED} "
                f"(for 0-255 integers use arr.astype(np.uint8))"
            )
        lo, hi = float(arr.min()), float(arr.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            raise InvalidInputError(
                f"float image array (shape {shape} dtype {dtype}) has values in [{lo:g}, {hi:g}]; "
                f"float pixels must be in [0, 1] (for 0-255 values use arr.astype(np.uint8))"
            )
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(arr)


def _resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    src_h, src_w = arr.shape[:2]
    if (src_w, src_h) == (w, h):
        return arr
    interp = cv2.INTER_AREA if w * h < src_w * src_h else cv2.INTER_LINEAR
    return cv2.resize(arr, (w, h), interpolation=interp)


def _scaled(src: int, scale: float, dst: int) -> int:
    n = src * scale
    n = int(n / 2 + 0.5) * 2 if dst % 2 == 0 else int(n + 0.5)
    return min(dst, max(1, n))


def fit_frame(rgb: Any, width: int, height: int, mode: str = "letterbox") -> np.ndarray:
    """``rgb`` fitted to a ``height x width x 3 uint8`` frame by ``mode``.

    Returns ``rgb`` itself when it already has that shape and is contiguous
    ``uint8``; otherwise a new array.
    """
    if (
        isinstance(rgb, np.ndarray)
        and rgb.shape == (height, width, 3)
        and rgb.dtype == np.uint8
        and rgb.flags.c_contiguous
    ):
        return rgb
    check_fit(mode)
    arr = as_rgb_uint8(rgb)
    src_h, src_w = arr.shape[:2]
    if (src_w, src_h) == (width, height) or mode == "stretch":
        return _resize(arr, width, height)
    if mode == "crop":
        scale = max(width / src_w, height / src_h)
        cw = min(src_w, max(1, int(round(width / scale))))
        ch = min(src_h, max(1, int(round(height / scale))))
        x0, y0 = (src_w - cw) // 2, (src_h - ch) // 2
        return _resize(np.ascontiguousarray(arr[y0 : y0 + ch, x0 : x0 + cw]), width, height)
    x, y, fw, fh = letterbox_rect(src_w, src_h, width, height)
    return _place(_resize(arr, fw, fh), x, y, width, height)


def letterbox_rect(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of a ``src_w x src_h`` picture letterboxed into
    ``width x height``: aspect kept, centred, sizes even when the frame's are."""
    scale = min(width / src_w, height / src_h)
    fw, fh = _scaled(src_w, scale, width), _scaled(src_h, scale, height)
    return (width - fw) // 2, (height - fh) // 2, fw, fh


def fit_video_frame(frame: Any, width: int, height: int) -> np.ndarray:
    """A decoded ``av.VideoFrame`` letterboxed to a new ``height x width x 3``
    RGB array; swscale resizes and converts to RGB in one pass."""
    x, y, fw, fh = letterbox_rect(frame.width, frame.height, width, height)
    return _place(frame.to_ndarray(width=fw, height=fh, format="rgb24"), x, y, width, height)


def _place(inner: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """``inner`` at (x, y) on a black ``width x height`` frame (itself when it fills it)."""
    fh, fw = inner.shape[:2]
    if (fw, fh) == (width, height):
        return np.ascontiguousarray(inner)
    out = np.zeros((height, width, 3), np.uint8)
    out[y : y + fh, x : x + fw] = inner
    return out


def black_frame(width: int, height: int) -> np.ndarray:
    """A read-only black ``height x width x 3`` frame."""
    return readonly(np.zeros((height, width, 3), np.uint8))


#: What a camera source shows before its first frame.
WAITING_FOR_CAMERA = "waiting for camera"


def message_frame(width: int, height: int, text: str) -> np.ndarray:
    """A read-only dark ``height x width x 3`` frame with ``text`` centred on it
    (a camera source's "waiting for camera", "camera unavailable")."""
    frame = np.full((height, width, 3), 24, np.uint8)
    scale = max(0.4, height / 360.0)
    thick = max(1, int(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = (max(0, (width - tw) // 2), (height + th) // 2)
    cv2.putText(frame, text, org, font, scale, (200, 200, 200), thick, cv2.LINE_AA)
    return readonly(frame)


def readonly(arr: np.ndarray) -> np.ndarray:
    """``arr`` marked read-only (in place) and returned: for frames a source
    hands out more than once, so a consumer writing into one fails loudly
    instead of changing every later frame."""
    arr.flags.writeable = False
    return arr
