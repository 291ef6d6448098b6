"""Decoding a ``set_image`` reference image (raw base64 JPEG/PNG/WebP) to RGB."""

from __future__ import annotations

import base64
import binascii

import cv2
import numpy as np

__all__ = ["ImageDecodeError", "decode_image_data", "MAX_IMAGE_BYTES"]

#: Larger than the 10 MB clients send, to leave room; beyond it we refuse.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class ImageDecodeError(ValueError):
    pass


def decode_image_data(image_data: str) -> np.ndarray:
    """``image_data`` (raw base64, a ``data:`` URL tolerated) → HxWx3 uint8 RGB."""
    text = image_data.strip()
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    text = "".join(text.split())
    if not text:
        raise ImageDecodeError("image_data is empty")
    text += "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            raw = base64.urlsafe_b64decode(text)
        else:
            raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"image_data is not valid base64 ({exc})") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise ImageDecodeError(f"image is too large ({len(raw)} bytes, at most {MAX_IMAGE_BYTES})")
    bgr = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageDecodeError(
            f"image_data is not a decodable image ({len(raw)} bytes; JPEG, PNG or WebP expected)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
