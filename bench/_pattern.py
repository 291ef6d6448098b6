"""The moving, counter-stamped 1280x720 pattern every client of
``bench_links.py`` sends: numpy only (it runs in the official SDK's venv
too, which has neither OpenCV nor decart_widgets), so all clients send the
same pixels made the same way.

The stamp code is loaded from ``decart_widgets/common/stamp.py`` by path,
without importing the package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

_STAMP = Path(__file__).resolve().parents[1] / "decart_widgets" / "common" / "stamp.py"


def _load_stamp():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("_bench_stamp", _STAMP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_stamp = _load_stamp()
stamp = _stamp.stamp
read_stamp = _stamp.read_stamp


class Pattern:
    """``frame(index)``: a window moving 4 px a frame over a textured strip
    twice the frame's width (so the encoders have motion and detail to code),
    stamped with ``index``. A new array per call."""

    def __init__(self, width: int = 1280, height: int = 720) -> None:
        self.width, self.height = width, height
        x = np.arange(2 * width, dtype=np.float32)[None, :]
        y = np.arange(height, dtype=np.float32)[:, None]
        tex = np.empty((height, 2 * width, 3), np.float32)
        tex[..., 0] = 127 + 100 * np.sin(x / 37) * np.cos(y / 53)
        tex[..., 1] = 127 + 100 * np.sin((x + y) / 71)
        tex[..., 2] = 127 + 100 * np.cos(np.hypot(x - width, y - height / 2) / 29)
        tile = np.random.default_rng(7).standard_normal((128, 128, 3), dtype=np.float32) * 8
        tex += np.tile(tile, (-(-height // 128), -(-2 * width // 128), 1))[:height, : 2 * width]
        self._texture = np.clip(tex, 0, 255).astype(np.uint8)

    def frame(self, index: int) -> np.ndarray:
        offset = (index * 4) % self.width
        out = self._texture[:, offset : offset + self.width].copy()
        return stamp(out, index)
