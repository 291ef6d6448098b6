"""RGB arrays to yuv420p video frames, for every encoder we feed.

OpenCV's conversion is about 10x faster than letting the encoder reformat
rgb24 (0.7 vs 7 ms at 720p, measured), so both the session's upstream and
the local server's output convert here.
"""

from __future__ import annotations

from typing import Any, cast

import av
import cv2
import numpy as np

__all__ = ["ndarray_to_frame", "rgb_to_i420"]


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """``HxWx3 uint8`` RGB → packed I420, ``(h * 3 / 2, w)``: Y, then U, then V
    (an odd last row or column is cut: yuv420p needs even sizes). What the
    LiveKit link hands its rtc client as is."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        rgb = rgb[: h - h % 2, : w - w % 2]
    return cast("np.ndarray[Any, np.dtype[np.uint8]]", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))


def ndarray_to_frame(rgb: np.ndarray) -> av.VideoFrame:
    """``HxWx3 uint8`` RGB → a yuv420p VideoFrame (an odd last row or column is cut)."""
    return av.VideoFrame.from_ndarray(rgb_to_i420(rgb), format="yuv420p")
