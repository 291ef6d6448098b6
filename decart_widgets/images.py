"""Reference-image inputs: normalise what a user passes into raw base64 of an
image file, validating it before anything is sent (docs/protocol.md section 6)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from .errors import InvalidInputError

__all__ = ["MAX_IMAGE_BYTES", "load_image_b64", "sniff_image", "ImageInput"]

#: Reference images over this size are rejected before sending.
MAX_IMAGE_BYTES = 10 * 1024 * 1024

ImageInput = Any  # bytes | str | os.PathLike | numpy.ndarray

_ACCEPTED = (
    "bytes of a JPEG/PNG/WebP/GIF/BMP file, a file path, a data: URL, an http(s) URL, "
    "raw base64, or an HxWx3 uint8 RGB numpy array"
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def sniff_image(data: bytes) -> str | None:
    """The image format of ``data`` by its magic bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    return None


def _check_bytes(data: bytes, what: str) -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInputError(
            f"{what} is {len(data) / 1e6:.1f} MB; reference images must be at most "
            f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB"
        )
    if not data:
        raise InvalidInputError(f"{what} is empty; expected {_ACCEPTED}")
    if sniff_image(data) is None:
        raise InvalidInputError(
            f"{what} is not an image (unrecognised bytes {data[:8]!r}); expected {_ACCEPTED}"
        )
    return data


def _array_to_png(arr: np.ndarray) -> bytes:
    import cv2

    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidInputError(
            f"image array must be HxWx3 (or HxWx4) uint8 RGB, got shape {arr.shape} dtype {arr.dtype}"
        )
    code = cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(arr), code))
    if not ok:
        raise InvalidInputError("could not encode the image array as PNG")
    return buf.tobytes()


def _decode_b64(text: str, what: str) -> bytes:
    compact = "".join(text.split())
    if not compact or not _BASE64.match(compact):
        raise InvalidInputError(f"{what} is not valid base64; expected {_ACCEPTED}")
    # Reject before decoding when it cannot fit (base64 is 4/3 of the bytes).
    if len(compact) * 3 // 4 > MAX_IMAGE_BYTES + 3:
        raise InvalidInputError(
            f"{what} decodes to over {MAX_IMAGE_BYTES // (1024 * 1024)} MB; "
            "reference images must be at most 10 MB"
        )
    try:
        alt = "-_" if ("-" in compact or "_" in compact) else None
        padded = compact + "=" * (-len(compact) % 4)
        return base64.b64decode(padded, altchars=alt.encode() if alt else None, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{what} is not valid base64: {exc}") from exc


async def _fetch(url: str) -> bytes:
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(url) as resp:
                if resp.status != 200:
                    raise InvalidInputError(f"fetching image URL failed with HTTP {resp.status}")
                length = resp.content_length
                if length is not None and length > MAX_IMAGE_BYTES:
                    raise InvalidInputError(
                        f"image at URL is {length / 1e6:.1f} MB; reference images must be at most 10 MB"
                    )
                data = await resp.content.read(MAX_IMAGE_BYTES + 1)
    except aiohttp.ClientError as exc:
        raise InvalidInputError(f"could not fetch image URL: {exc}") from exc
    return data


async def load_image_b64(image: ImageInput) -> str:
    """Return the raw base64 (no ``data:`` prefix) of a validated image file.

    ``http(s)`` URLs are fetched from the kernel's network position: pass
    trusted URLs only.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = _check_bytes(bytes(image), "image bytes")
    elif isinstance(image, np.ndarray):
        data = _check_bytes(_array_to_png(image), "image array")
    elif isinstance(image, os.PathLike):
        data = await asyncio.to_thread(_read_path, Path(image))
    elif isinstance(image, str):
        data = await _from_string(image)
    else:
        raise InvalidInputError(f"unsupported image type {type(image).__name__}; expected {_ACCEPTED}")
    return base64.b64encode(data).decode("ascii")


def _read_path(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInputError(f"cannot read image file {str(path)!r}: {exc.strerror}") from exc
    if size > MAX_IMAGE_BYTES:
        raise InvalidInputError(
            f"image file {path.name!r} is {size / 1e6:.1f} MB; reference images must be at most 10 MB"
        )
    return _check_bytes(path.read_bytes(), f"image file {path.name!r}")


async def _from_string(text: str) -> bytes:
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError(f"image string is empty; expected {_ACCEPTED}")
    lowered = stripped[:16].lower()
    if lowered.startswith("data:"):
        header, _, payload = stripped.partition(",")
        if ";base64" not in header.lower():
            raise InvalidInputError("data: URL images must be base64-encoded (data:image/...;base64,...)")
        return _check_bytes(_decode_b64(payload, "data: URL"), "data: URL image")
    if lowered.startswith(("http://", "https://")):
        return _check_bytes(await _fetch(stripped), "image at URL")
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", stripped)
    if scheme and len(scheme.group(1)) > 1:  # one letter is a Windows drive
        raise InvalidInputError(
            f"unsupported image URL scheme {scheme.group(1)!r}; accepted: http(s):// URLs, "
            "data: URLs, file paths, bytes, raw base64"
        )
    # files are read on a worker thread: a 10 MB read must not stall the loop
    return await asyncio.to_thread(_path_or_base64, stripped)


def _path_or_base64(stripped: str) -> bytes:
    if len(stripped) < 4096 and ("/" in stripped[:1] or "\\" in stripped or "." in stripped[-6:]):
        path = Path(stripped).expanduser()
        if path.exists():
            return _read_path(path)
        if not _BASE64.match(stripped):
            raise InvalidInputError(f"image file {stripped!r} does not exist")
    if len(stripped) < 4096 and Path(stripped).expanduser().is_file():
        return _read_path(Path(stripped).expanduser())
    return _check_bytes(_decode_b64(stripped, "image string"), "base64 image")
