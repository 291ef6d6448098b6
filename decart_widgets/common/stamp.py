"""A frame counter stamped into the pixels, readable after lossy video coding.

The stamp is a strip of black/white blocks across the top-left of a frame:
two sync blocks (white, black), a 24-bit counter and an 8-bit check, 34 blocks
in all. Blocks are ``width // 40`` pixels wide and ``max(8, height // 40)``
high, large enough to survive VP8 at low bitrates and JPEG. Anything that
carries the strip through (the local server restores it after its model runs)
lets the receiving end match an output frame to the input frame that made it,
for latency and frame-loss measurement.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stamp", "read_stamp", "stamp_rect", "COUNTER_MODULO"]

_BITS = 24
_BLOCKS = 2 + _BITS + 8
COUNTER_MODULO = 1 << _BITS


def _geometry(width: int, height: int) -> tuple[int, int]:
    return max(2, width // 40), max(8, height // 40)


def stamp_rect(width: int, height: int) -> tuple[int, int]:
    """(width, height) in pixels of the stamp strip at the top-left corner."""
    bw, bh = _geometry(width, height)
    return bw * _BLOCKS, bh


def _check(counter: int) -> int:
    b0, b1, b2 = counter & 0xFF, (counter >> 8) & 0xFF, (counter >> 16) & 0xFF
    return ((b0 * 31 + b1 * 17 + b2 * 7) ^ 0xA5) & 0xFF


def _bits(counter: int) -> list[int]:
    counter %= COUNTER_MODULO
    data = [(counter >> i) & 1 for i in range(_BITS)]
    chk = _check(counter)
    return [1, 0] + data + [(chk >> i) & 1 for i in range(8)]


def stamp(frame: np.ndarray, counter: int) -> np.ndarray:
    """Draw ``counter`` into ``frame`` (HxWx3 uint8) in place and return it."""
    h, w = frame.shape[:2]
    bw, bh = _geometry(w, h)
    if bw * _BLOCKS > w:
        raise ValueError(f"frame {w}x{h} is too small for a stamp")
    row = np.repeat(np.array(_bits(counter), dtype=np.uint8) * 255, bw)
    frame[:bh, : bw * _BLOCKS] = row[None, :, None]
    return frame


def read_stamp(frame: np.ndarray) -> int | None:
    """The counter stamped into ``frame``, or None when there is no valid stamp."""
    h, w = frame.shape[:2]
    bw, bh = _geometry(w, h)
    if bw * _BLOCKS > w or bh > h:
        return None
    # sample the middle of each block (edges blur under compression)
    y0, y1 = bh // 4, max(bh // 4 + 1, (3 * bh) // 4)
    # the stamp is grey (black/white): one channel tells it, at a tenth of the cost
    strip = frame[y0:y1, : bw * _BLOCKS, 1] if frame.ndim == 3 else frame[y0:y1, : bw * _BLOCKS]
    x0, x1 = bw // 4, max(bw // 4 + 1, (3 * bw) // 4)
    blocks = strip.reshape(y1 - y0, _BLOCKS, bw)[:, :, x0:x1].mean(axis=(0, 2))
    # a real stamp is near-black or near-white in every block
    if np.any((blocks > 70) & (blocks < 185)):
        return None
    bits = (blocks >= 128).astype(np.int64)
    if bits[0] != 1 or bits[1] != 0:
        return None
    counter = int(sum(int(b) << i for i, b in enumerate(bits[2 : 2 + _BITS])))
    chk = int(sum(int(b) << i for i, b in enumerate(bits[2 + _BITS :])))
    return counter if chk == _check(counter) else None
