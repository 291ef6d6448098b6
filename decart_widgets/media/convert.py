"""Frame conversions that are safe across threads.

PyAV caches one reformatter (a swscale context) on each VideoFrame, so two
threads converting the same frame at once corrupt it and crash the process.
A received frame is shared by taps, recorders and snapshots on different
threads, so every conversion here uses a reformatter of the calling thread
and never touches the frame's own.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

__all__ = ["frame_to_rgb", "frame_copy_yuv", "ndarray_to_frame", "rgb_to_i420"]

_local = threading.local()


def _reformatter() -> VideoReformatter:
    fmt = getattr(_local, "reformatter", None)
    if fmt is None:
        fmt = _local.reformatter = VideoReformatter()
    return fmt


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """``HxWx3 uint8`` RGB of a (possibly shared) video frame."""
    rgb = _reformatter().reformat(frame, format="rgb24")
    return rgb.to_ndarray()


def frame_copy_yuv(frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> av.VideoFrame:
    """A new yuv420p frame (optionally resized) that owns its pixels."""
    width = width or frame.width
    height = height or frame.height
    if frame.format.name == "yuv420p" and (frame.width, frame.height) == (width, height):
        return av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
    out = _reformatter().reformat(frame, width=width, height=height, format="yuv420p")
    return out if out is not frame else av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """RGB array → packed I420 (``(h * 3 / 2, w)``: Y, U, V), even sizes."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        rgb = rgb[: h - h % 2, : w - w % 2]
    return cast("np.ndarray[Any, np.dtype[np.uint8]]", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))


def ndarray_to_frame(rgb: np.ndarray) -> av.VideoFrame:
    """RGB array → yuv420p VideoFrame. OpenCV's conversion is ~10x faster than
    letting the encoder reformat rgb24 (0.7 vs 7 ms at 720p, measured)."""
    return av.VideoFrame.from_ndarray(rgb_to_i420(rgb), format="yuv420p")
