"""Inputs the source tests share: generated videos whose frames say their index, test images."""

from __future__ import annotations

import fractions

import av
import numpy as np

SIZES = [(1280, 720), (640, 480), (1280, 704)]
# (width, height) of inputs of each orientation
ORIENTATIONS = {"landscape": (96, 54), "portrait": (54, 96), "square": (64, 64)}
MODES = ["letterbox", "crop", "stretch"]

FILE_FPS, FILE_FRAMES, GREY_STEP = 15, 30, 8


def make_video(path, n=FILE_FRAMES, fps=FILE_FPS, w=320, h=240, rotation=None):
    """A video whose frame i is flat grey ``i * GREY_STEP`` (identified by
    :func:`ident`); with ``rotation``, a red top-left corner and that display
    rotation (counterclockwise degrees)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "10", "preset": "ultrafast"}
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            img = np.full((h, w, 3), i * GREY_STEP, np.uint8)
            if rotation is not None:
                img[: h // 6, : w // 8] = (255, 0, 0)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, fractions.Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def ident(frame: np.ndarray) -> int:
    """The file frame index of ``frame`` (from the grey level at its centre)."""
    h, w = frame.shape[:2]
    return int(round(frame[h // 2 - 4 : h // 2 + 4, w // 2 - 4 : w // 2 + 4].mean() / GREY_STEP))




def white(w, h):
    return np.full((h, w, 3), 255, np.uint8)


def thirds(w, h):
    """Vertical red | green | blue thirds."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 3, 0] = 255
    img[:, w // 3 : 2 * w // 3, 1] = 255
    img[:, 2 * w // 3 :, 2] = 255
    return img


async def read_all(src, n, fps, start=0):
    return [await src.read(i, i / fps) for i in range(start, start + n)]
