"""Frame conversions that are safe across threads.

PyAV caches one reformatter (a swscale context) on each VideoFrame, so two
threads converting the same frame at once corrupt it and crash the process.
A received frame is shared by taps, recorders and snapshots on different
threads, so every conversion here uses a reformatter of the calling thread
and never touches the frame's own.
"""

from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..common.stamp import read_stamp
from ..common.yuv import ndarray_to_frame

__all__ = ["frame_to_rgb", "frame_copy_yuv", "ndarray_to_frame", "luma_view", "frame_stamp"]

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


def luma_view(frame: av.VideoFrame) -> np.ndarray | None:
    """The Y plane of a yuv420p frame as a (height, width) view, no copy; None
    for other formats."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        return None
    plane = frame.planes[0]
    buf = np.frombuffer(memoryview(plane), np.uint8)
    return buf.reshape(frame.height, plane.line_size)[:, : frame.width]


def frame_stamp(frame: av.VideoFrame) -> int | None:
    """The counter stamped into a video frame (read from its luma, no
    conversion), or None when it has none or is not yuv420p."""
    luma = luma_view(frame)
    return read_stamp(luma) if luma is not None else None
