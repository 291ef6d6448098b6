"""``ImageSource``: one still image, sent as every frame."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InvalidInputError
from ._fit import as_rgb_uint8, check_fit, fit_frame, readonly
from .sources import Source

__all__ = ["ImageSource"]

_ACCEPTED = "a file path, the bytes of an image file (JPEG, PNG, WebP, BMP, ...) or an image array"


class ImageSource(Source):
    """A still image as the video: every frame is the same picture.

    ``image`` is a path to an image file, the bytes of one (anything OpenCV
    decodes: JPEG, PNG, WebP, BMP, TIFF, ...; EXIF orientation applied,
    alpha dropped), or an array (``HxWx3`` RGB, grayscale ``HxW``, ``HxWx4``
    RGBA; ``uint8`` or floats in ``[0, 1]``). It is decoded once, on
    construction, and fitted to the model's frame once, in ``configure``, by
    ``fit`` (default ``"letterbox"``: aspect kept, black bars; ``"crop"``:
    aspect kept, centre-cropped to fill; ``"stretch"``).

    ``read`` costs nothing: it returns the same array every frame, marked
    read-only. A consumer that wants to draw on a frame must copy it first
    (``frame.copy()``); a tap that returns a new array is fine.
    """

    def __init__(self, image: Any, *, fit: str = "letterbox") -> None:
        self._fit = check_fit(fit)
        rgb = _load(image)
        if rgb is image:  # the caller's array: keep our own copy, it may change theirs later
            rgb = rgb.copy()
        self._image = rgb
        self._frame: np.ndarray | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the image as decoded, before fitting."""
        return self._image.shape[1], self._image.shape[0]

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        frame = fit_frame(self._image, width, height, self._fit)
        if frame is self._image:
            frame = frame.view()  # read-only view; ours stays writable for a later re-fit
        self._frame = readonly(frame)

    async def read(self, index: int, t: float) -> np.ndarray:
        if self._frame is None:
            raise RuntimeError("configure() the source before reading")
        return self._frame


def _load(image: Any) -> np.ndarray:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image), "image bytes")
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
            raise InvalidInputError(
                f"ImageSource does not fetch URLs ({image[:40]!r}...); pass {_ACCEPTED}"
            )
        if not path.is_file():
            why = "is a directory" if path.is_dir() else "does not exist"
            raise InvalidInputError(f"image file {str(path)!r} {why}; ImageSource takes {_ACCEPTED}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read image file {str(path)!r}: {exc}") from exc
        return _decode(data, f"image file {str(path)!r}")
    if isinstance(image, np.ndarray) or hasattr(image, "__array_interface__"):
        return as_rgb_uint8(image)
    raise InvalidInputError(f"ImageSource takes {_ACCEPTED}; got {type(image).__name__}")


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise InvalidInputError(f"{what} is empty; ImageSource takes {_ACCEPTED}")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidInputError(
            f"{what} could not be decoded as an image ({len(data)} bytes starting {data[:8]!r}); "
            f"ImageSource takes {_ACCEPTED}"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
