"""Building blocks of the local effects model (:mod:`.effects`): lookup
tables, resampling helpers, the prompt tint, a reference image's palette,
per-size caches (vignette, grain, ripple grids) and the stand-in label.
Everything here depends only on a state or a frame size, never on a frame,
so the model builds each once and reuses it."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np

# ---------------------------------------------------------------- helpers


def _lut(values: np.ndarray) -> np.ndarray:
    """A 256-entry uint8 LUT from float values (clipped, rounded)."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _lut3(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A per-channel LUT for cv2.LUT on 3-channel RGB images."""
    return np.ascontiguousarray(np.stack([_lut(r), _lut(g), _lut(b)], axis=-1).reshape(256, 1, 3))


_X = np.arange(256, dtype=np.float64)


def down(img: np.ndarray, factor: int) -> np.ndarray:
    """Downscale by a power of two, halving with INTER_AREA (fast for exact halves)."""
    while factor > 1:
        h, w = img.shape[:2]
        if h < 2 or w < 2:
            break
        img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        factor //= 2
    return img


def up(img: np.ndarray, w: int, h: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    if img.shape[1] == w and img.shape[0] == h:
        return img
    return cv2.resize(img, (w, h), interpolation=interpolation)


def saturate(img: np.ndarray, amount: float) -> np.ndarray:
    """Push colours away from their grey by ``amount`` (0 = unchanged)."""
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, 1.0 + amount, grey, -amount, 0)


def odd(n: float) -> int:
    n = max(1, int(n))
    return n if n % 2 else n + 1


# LUTs shared by every state (built once at import; a few kB)
ANIME_LUT = _lut3(*([np.minimum(255, (np.floor(_X / 42.0) * 42.0 + 24.0) * 1.04)] * 3))
NEON_EDGE_LUT = _lut(np.where(_X < 24, 0, (_X - 24) * 3.0))
NEON_BASE_LUT = _lut3(_X * 0.16, _X * 0.12, _X * 0.28 + 8)
SKETCH_LUT = _lut3(
    *[
        np.power(_X / 255.0, 2.2) * paper
        for paper in (250.0, 244.0, 232.0)  # warm paper white
    ]
)
# the classic sepia matrix, applied to luma: its rows are nearly proportional
# to (0.299, 0.587, 0.114), so tone(luma) * (1.351, 1.203, 0.937) is the same
# picture for a fraction of the cost; blacks lifted, highlights rolled off
_SEPIA_TONE = 18.0 + 0.93 * _X
SEPIA_LUT = _lut3(_SEPIA_TONE * 1.10, _SEPIA_TONE * 0.90, _SEPIA_TONE * 0.66)
NOIR_LUT = _lut(255.0 / (1.0 + np.exp(-(_X - 118.0) / 26.0)))
WATER_LUT = _lut3(_X * 0.55 + 6, _X * 0.85 + 24, _X * 0.80 + 52)
PIXEL_LUT = _lut3(*([np.floor(_X / 51.2 + 0.5) * 63.75] * 3))


def _soft_posterise(levels: int) -> np.ndarray:
    step = 255.0 / levels
    k = np.floor(_X / step)
    frac = _X / step - k
    smooth = frac * frac * (3 - 2 * frac)  # smoothstep between levels
    v = (k + 0.15 + 0.7 * smooth) * step
    return 255.0 * np.power(np.clip(v, 0, 255) / 255.0, 0.7)  # lighter, like paper through paint


WATERCOLOR_LUT = _lut3(*([_soft_posterise(6)] * 3))


def _inferno_rgb() -> np.ndarray:
    grey = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)  # (256, 1, 3) BGR
    return np.ascontiguousarray(bgr[:, :, ::-1])


INFERNO_RGB = _inferno_rgb()


def tint_matrix(prompt: str) -> np.ndarray:
    """A 3x4 affine RGB matrix: hue rotation + saturation + tint, from the prompt's hash."""
    digest = hashlib.sha256(prompt.strip().lower().encode("utf-8")).digest()
    angle = math.radians(60.0 + (int.from_bytes(digest[:2], "big") % 240))  # never near 0
    sat = 1.15 + (digest[2] / 255.0) * 0.35
    # rotation about the grey axis (luma-preserving hue rotation)
    c, s = math.cos(angle), math.sin(angle)
    lr, lg, lb = 0.213, 0.715, 0.072
    rot = np.array(
        [
            [
                lr + c * (1 - lr) + s * (-lr),
                lg + c * (-lg) + s * (-lg),
                lb + c * (-lb) + s * (1 - lb),
            ],
            [
                lr + c * (-lr) + s * 0.143,
                lg + c * (1 - lg) + s * 0.140,
                lb + c * (-lb) + s * (-0.283),
            ],
            [lr + c * (-lr) + s * (-(1 - lr)), lg + c * (-lg) + s * lg, lb + c * (1 - lb) + s * lb],
        ]
    )
    grey = np.array([[lr, lg, lb]] * 3)
    satm = grey + sat * (np.eye(3) - grey)
    m = satm @ rot
    tint = (np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float64) - 127.5) * 0.12
    return np.hstack([m, tint[:, None]]).astype(np.float32)


# ---------------------------------------------------------------- palette


@dataclass(frozen=True)
class Palette:
    mean: np.ndarray  # (3,) YCrCb
    std: np.ndarray  # (3,)

    @classmethod
    def of(cls, image: np.ndarray) -> Palette:
        img = np.asarray(image)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        elif img.shape[2] == 4:
            img = img[:, :, :3]
        img = np.ascontiguousarray(img, dtype=np.uint8)
        h, w = img.shape[:2]
        scale = 256.0 / max(h, w)
        if scale < 1.0:
            img = cv2.resize(
                img,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        mean, std = cv2.meanStdDev(cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb))
        return cls(mean.ravel(), std.ravel())

    def transfer(self, frame: np.ndarray, keep_luma: bool = False) -> np.ndarray:
        """Reinhard-style transfer of this palette onto ``frame`` (a new array)."""
        h, w = frame.shape[:2]
        step = max(1, min(h, w) // 90)
        sample = np.ascontiguousarray(frame[::step, ::step])
        smean, sstd = cv2.meanStdDev(cv2.cvtColor(sample, cv2.COLOR_RGB2YCrCb))
        smean, sstd = smean.ravel(), sstd.ravel()
        chans = []
        for i in range(3):
            if i == 0 and keep_luma:
                chans.append(_X)
                continue
            ratio = float(np.clip(self.std[i] / max(sstd[i], 1e-3), 0.4, 2.5))
            mapped = (_X - smean[i]) * ratio + self.mean[i]
            if i == 0:  # move luma part of the way only: keep the frame readable
                mapped = 0.35 * _X + 0.65 * mapped
            chans.append(mapped)
        lut = _lut3(*chans)
        ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
        cv2.LUT(ycc, lut, dst=ycc)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


# ---------------------------------------------------------------- per-size caches


@dataclass
class SizeCache:
    """Everything that depends only on the frame size; read-only once built."""

    w: int
    h: int
    _vignette: np.ndarray | None = None
    _grain: np.ndarray | None = None
    _grid: tuple[np.ndarray, np.ndarray] | None = None

    def vignette(self) -> np.ndarray:
        """HxW uint8: 255 in the middle, falling to about a quarter in the far corners."""
        if self._vignette is None:
            ys = np.linspace(-1.0, 1.0, self.h, dtype=np.float32)[:, None]
            xs = np.linspace(-1.0, 1.0, self.w, dtype=np.float32)[None, :]
            r2 = xs * xs * 0.9 + ys * ys
            v = 1.0 - 0.4 * np.clip(r2 - 0.15, 0.0, None) ** 1.1
            self._vignette = np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)
        return self._vignette

    def grain(self) -> np.ndarray:
        """HxWx3 uint8 paper texture around 240 (multiply with scale 1/255)."""
        if self._grain is None:
            rng = np.random.default_rng(12345)
            noise = rng.normal(0.0, 1.0, (max(1, self.h // 2), max(1, self.w // 2))).astype(
                np.float32
            )
            small = cv2.GaussianBlur(noise, (0, 0), 0.8)
            tex = up(small, self.w, self.h)
            g = np.clip(np.rint(243.0 + tex * 9.0), 0, 255).astype(np.uint8)
            self._grain = cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)
        return self._grain

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None:
            gx = np.tile(np.arange(self.w, dtype=np.float32), (self.h, 1))
            gy = np.tile(np.arange(self.h, dtype=np.float32)[:, None], (1, self.w))
            self._grid = (gx, gy)
        return self._grid


# ---------------------------------------------------------------- label


@dataclass(frozen=True)
class Label:
    x0: int
    y0: int
    text: np.ndarray  # (ph, pw, 3) uint8: white anti-aliased text on black


def make_label(text: str, w: int, h: int) -> Label | None:
    """Place ``text`` in the bottom-right quadrant, or None when it cannot fit."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    margin = max(2, h // 120)
    for candidate in (text, "stand-in"):
        scale = min(0.9, max(0.3, h / 1500.0))
        while scale >= 0.3 - 1e-9:
            thickness = 1
            (tw, th), base = cv2.getTextSize(candidate, font, scale, thickness)
            pad = max(2, int(th * 0.35))
            pw, ph = tw + 2 * pad, th + base + 2 * pad
            if pw + margin <= w // 2 and ph + margin <= h // 2:
                patch = np.zeros((ph, pw, 3), np.uint8)
                cv2.putText(
                    patch,
                    candidate,
                    (pad, pad + th),
                    font,
                    scale,
                    (235, 235, 235),
                    thickness,
                    cv2.LINE_AA,
                )
                return Label(w - margin - pw, h - margin - ph, patch)
            scale -= 0.05
    return None


def draw_label(out: np.ndarray, label: Label) -> None:
    ph, pw = label.text.shape[:2]
    region = out[label.y0 : label.y0 + ph, label.x0 : label.x0 + pw]
    dark = cv2.convertScaleAbs(region, alpha=0.5)  # the semi-transparent box
    np.maximum(dark, label.text, out=region)
