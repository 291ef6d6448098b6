"""JPEG for the comm transport: simplejpeg when installed (encodes yuv420p
planes directly, ~1.4 ms at 720p), else OpenCV (a dependency already).
simplejpeg is optional: ``pip install simplejpeg`` for the faster path."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

try:
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the environment
    simplejpeg = None

__all__ = ["encode_planes", "encode_rgb", "decode_rgb", "header_size", "BACKEND"]

BACKEND = "simplejpeg" if simplejpeg is not None else "opencv"


def encode_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, quality: int) -> bytes:
    """JPEG of yuv420p planes (no RGB step with simplejpeg)."""
    if simplejpeg is not None:
        return bytes(simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=quality))
    h, w = y.shape
    i420 = np.concatenate([np.ascontiguousarray(y).ravel(), np.ascontiguousarray(u).ravel(),
                           np.ascontiguousarray(v).ravel()]).reshape(h * 3 // 2, w)
    bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    return _cv_encode(bgr, quality)


def encode_rgb(rgb: np.ndarray, quality: int) -> bytes:
    if simplejpeg is not None:
        return bytes(simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace="RGB",
                                            colorsubsampling="420"))
    return _cv_encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality)


def _cv_encode(bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame")
    return buf.tobytes()


def header_size(data: Any) -> tuple[int, int]:
    """(width, height) from a JPEG's header without decoding it."""
    if simplejpeg is not None:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        return int(w), int(h)
    mv = memoryview(data).cast("B")
    i = 2
    while i + 9 < len(mv):
        if mv[i] != 0xFF:
            raise ValueError("bad JPEG marker")
        marker = mv[i + 1]
        seg = (mv[i + 2] << 8) | mv[i + 3]
        if marker in (0xC0, 0xC1, 0xC2):
            return (mv[i + 7] << 8) | mv[i + 8], (mv[i + 5] << 8) | mv[i + 6]
        i += 2 + seg
    raise ValueError("no JPEG frame header")


def decode_rgb(data: Any) -> np.ndarray:
    if simplejpeg is not None:
        return simplejpeg.decode_jpeg(data, colorspace="RGB")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("OpenCV could not decode the JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
