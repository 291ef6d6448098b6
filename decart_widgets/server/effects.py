"""The local server's default model: fast, prompt-driven OpenCV effects.

This is a *stand-in* for Decart's realtime models so that the widget works
offline, in tests and in demos. It is not generative and does not pretend to
be: it picks one of a handful of classic image filters from keywords in the
prompt and, by default, says so in a small tag in the bottom-right corner of
every frame ("local stand-in: sketch").

What a state does (see :class:`EffectsModel`):

- no prompt and no image: passthrough, the input frame object is returned as is;
- a prompt (a blank one counts as none): the first style of :data:`STYLES`
  (in table order) one of whose keywords starts a word of the prompt
  (case-insensitive) is applied; a prompt that matches none gets a
  deterministic hue rotation and tint derived from a SHA-256 of the prompt
  text ("tint"), so every prompt visibly changes the picture and the same
  prompt always looks the same;
- a reference image: its colour palette is moved onto the frame (Reinhard
  mean/std transfer in YCrCb). With a prompt as well, both apply: the palette
  first, then the style, except for styles that discard colour (sketch, noir,
  thermal), whose result is tinted with the palette instead;
- ``enhance`` is accepted and ignored: the stand-in has no prompt rewriter.

Cost: every style is a few OpenCV calls on ``uint8`` data (LUTs, colour
conversions, small filters run at half or quarter resolution and scaled back),
a few milliseconds per 1280x720 frame on two cores (``bench/bench_effects.py``).
Everything that depends only on the state (keyword match, LUTs, the
reference image's statistics, the rendered label) is computed once per state
and cached; everything that depends only on the frame size (vignette, paper
grain, ripple grids, label placement) once per size.

The model never writes into the input array. Its label sits in the
bottom-right quadrant, well away from the top-left counter strip of
:mod:`decart_widgets.common.stamp` (which the server restores after the model runs:
the styles themselves repaint the whole frame, strip included).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .model_api import ModelState

__all__ = [
    "STYLES",
    "STYLE_DESCRIPTIONS",
    "EffectsModel",
    "select_style",
    "describe",
]

#: Style name -> keywords, in matching order. A keyword matches when it starts
#: a word of the prompt, case-insensitively ("paint" matches "painting",
#: "old" matches "olden" but not "bold"). The first style (in this order) with
#: a matching keyword wins.
STYLES: dict[str, tuple[str, ...]] = {
    "anime": ("anime", "cartoon", "comic", "manga", "toon", "ghibli", "cel-shaded"),
    "sketch": ("sketch", "pencil", "drawing", "charcoal", "graphite", "line art"),
    "neon": ("neon", "cyberpunk", "glow", "synthwave", "tron"),
    "sepia": ("sepia", "vintage", "old", "antique", "victorian"),
    "thermal": ("thermal", "heat", "infrared", "predator"),
    "watercolor": ("watercolor", "watercolour", "painting", "paint", "pastel", "impressionis"),
    "noir": (
        "noir",
        "black and white",
        "black & white",
        "b&w",
        "monochrome",
        "grayscale",
        "greyscale",
        "night",
    ),
    "underwater": ("underwater", "ocean", "sea", "aquarium", "submarine", "mermaid"),
    "pixel": ("pixel", "8-bit", "8bit", "16-bit", "retro game", "minecraft", "voxel"),
}

#: Style name -> one line for a UI or README.
STYLE_DESCRIPTIONS: dict[str, str] = {
    "anime": "flat quantised colours, boosted saturation, dark ink edges",
    "sketch": "grey pencil sketch on warm paper (colour-dodge blend)",
    "neon": "dark scene with glowing magenta/cyan edges",
    "sepia": "sepia tones, lifted blacks and a vignette",
    "thermal": "blurred luma through the inferno colormap",
    "watercolor": "soft posterised colours, pigment edges, paper grain",
    "noir": "high-contrast black and white with a vignette",
    "underwater": "blue-green tint with a moving ripple",
    "pixel": "chunky pixels with a reduced palette",
    "tint": "any other prompt: a hue rotation and tint picked by a hash of the prompt",
    "palette": "a reference image: its colour palette transferred onto the frame",
}

# styles whose output has no colour of its own: the palette tints their result
_PALETTE_AFTER = frozenset({"sketch", "noir", "thermal"})

_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(
        r"(?<![0-9a-z])(?:" + "|".join(re.escape(k) for k in keywords) + ")",
        re.IGNORECASE,
    )
    for name, keywords in STYLES.items()
}


def _clean_prompt(prompt: str | None) -> str | None:
    if prompt is None:
        return None
    prompt = " ".join(prompt.split())
    return prompt or None


def select_style(prompt: str | None) -> str | None:
    """The style a prompt picks: a key of :data:`STYLES`, ``"tint"`` when no
    keyword matches, or None for no prompt (None, empty or whitespace)."""
    text = _clean_prompt(prompt)
    if text is None:
        return None
    for name, pattern in _PATTERNS.items():
        if pattern.search(text):
            return name
    return "tint"


def describe(state: ModelState) -> str:
    """A short name for what :class:`EffectsModel` does with ``state``:
    ``"passthrough"``, a style (``"sketch"``, ``"tint"``), ``"palette"`` or
    ``"palette+neon"``."""
    style = select_style(state.prompt)
    has_image = state.image is not None
    if style is None:
        return "palette" if has_image else "passthrough"
    return f"palette+{style}" if has_image else style


# ---------------------------------------------------------------- helpers


def _lut(values: np.ndarray) -> np.ndarray:
    """A 256-entry uint8 LUT from float values (clipped, rounded)."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _lut3(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A per-channel LUT for cv2.LUT on 3-channel RGB images."""
    return np.ascontiguousarray(np.stack([_lut(r), _lut(g), _lut(b)], axis=-1).reshape(256, 1, 3))


_X = np.arange(256, dtype=np.float64)


def _down(img: np.ndarray, factor: int) -> np.ndarray:
    """Downscale by a power of two, halving with INTER_AREA (fast for exact halves)."""
    while factor > 1:
        h, w = img.shape[:2]
        if h < 2 or w < 2:
            break
        img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        factor //= 2
    return img


def _up(img: np.ndarray, w: int, h: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    if img.shape[1] == w and img.shape[0] == h:
        return img
    return cv2.resize(img, (w, h), interpolation=interpolation)


def _saturate(img: np.ndarray, amount: float) -> np.ndarray:
    """Push colours away from their grey by ``amount`` (0 = unchanged)."""
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, 1.0 + amount, grey, -amount, 0)


def _odd(n: float) -> int:
    n = max(1, int(n))
    return n if n % 2 else n + 1


# LUTs shared by every state (built once at import; a few kB)
_ANIME_LUT = _lut3(*([np.minimum(255, (np.floor(_X / 42.0) * 42.0 + 24.0) * 1.04)] * 3))
_NEON_EDGE_LUT = _lut(np.where(_X < 24, 0, (_X - 24) * 3.0))
_NEON_BASE_LUT = _lut3(_X * 0.16, _X * 0.12, _X * 0.28 + 8)
_SKETCH_LUT = _lut3(
    *[
        np.power(_X / 255.0, 2.2) * paper
        for paper in (250.0, 244.0, 232.0)  # warm paper white
    ]
)
# the classic sepia matrix, applied to luma: its rows are nearly proportional
# to (0.299, 0.587, 0.114), so tone(luma) * (1.351, 1.203, 0.937) is the same
# picture for a fraction of the cost; blacks lifted, highlights rolled off
_SEPIA_TONE = 18.0 + 0.93 * _X
_SEPIA_LUT = _lut3(_SEPIA_TONE * 1.10, _SEPIA_TONE * 0.90, _SEPIA_TONE * 0.66)
_NOIR_LUT = _lut(255.0 / (1.0 + np.exp(-(_X - 118.0) / 26.0)))
_WATER_LUT = _lut3(_X * 0.55 + 6, _X * 0.85 + 24, _X * 0.80 + 52)
_PIXEL_LUT = _lut3(*([np.floor(_X / 51.2 + 0.5) * 63.75] * 3))


def _soft_posterise(levels: int) -> np.ndarray:
    step = 255.0 / levels
    k = np.floor(_X / step)
    frac = _X / step - k
    smooth = frac * frac * (3 - 2 * frac)  # smoothstep between levels
    v = (k + 0.15 + 0.7 * smooth) * step
    return 255.0 * np.power(np.clip(v, 0, 255) / 255.0, 0.7)  # lighter, like paper through paint


_WATERCOLOR_LUT = _lut3(*([_soft_posterise(6)] * 3))


def _inferno_rgb() -> np.ndarray:
    grey = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)  # (256, 1, 3) BGR
    return np.ascontiguousarray(bgr[:, :, ::-1])


_INFERNO_RGB = _inferno_rgb()


def _tint_matrix(prompt: str) -> np.ndarray:
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
class _Palette:
    mean: np.ndarray  # (3,) YCrCb
    std: np.ndarray  # (3,)

    @classmethod
    def of(cls, image: np.ndarray) -> _Palette:
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
class _SizeCache:
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
            tex = _up(small, self.w, self.h)
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
class _Label:
    x0: int
    y0: int
    text: np.ndarray  # (ph, pw, 3) uint8: white anti-aliased text on black


def _make_label(text: str, w: int, h: int) -> _Label | None:
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
                return _Label(w - margin - pw, h - margin - ph, patch)
            scale -= 0.05
    return None


def _draw_label(out: np.ndarray, label: _Label) -> None:
    ph, pw = label.text.shape[:2]
    region = out[label.y0 : label.y0 + ph, label.x0 : label.x0 + pw]
    dark = cv2.convertScaleAbs(region, alpha=0.5)  # the semi-transparent box
    np.maximum(dark, label.text, out=region)


# ---------------------------------------------------------------- the model


@dataclass
class _Plan:
    """What one state asks for; built once per state."""

    style: str | None
    name: str
    image: np.ndarray | None  # identity check for the cache
    palette: _Palette | None
    tint: np.ndarray | None = None
    ticks: int = 0
    labels: dict[tuple[int, int], _Label | None] = field(default_factory=dict)


class EffectsModel:
    """The default local model: ``model(frame, state) -> frame``.

    ``frame`` is an HxWx3 uint8 RGB array of any size; the result is a new
    HxWx3 uint8 contiguous array of the same size (or ``frame`` itself on
    passthrough). Thread-safe: one instance can serve several sessions.

    :param label: draw a small semi-transparent "local stand-in: <style>" tag
        in the bottom-right corner (on by default; the stand-in says so).
    """

    def __init__(self, label: bool = True) -> None:
        self.label = bool(label)
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple, _Plan] = OrderedDict()
        self._sizes: OrderedDict[tuple[int, int], _SizeCache] = OrderedDict()
        self._local = threading.local()
        self._styles: dict[str, Callable[[np.ndarray, _Plan, _SizeCache], np.ndarray]] = {
            "anime": self._anime,
            "sketch": self._sketch,
            "neon": self._neon,
            "sepia": self._sepia,
            "thermal": self._thermal,
            "watercolor": self._watercolor,
            "noir": self._noir,
            "underwater": self._underwater,
            "pixel": self._pixel,
            "tint": self._tint,
        }

    def __repr__(self) -> str:
        return f"EffectsModel(label={self.label})"

    # -- public

    @staticmethod
    def describe(state: ModelState) -> str:
        """See :func:`describe`."""
        return describe(state)

    def __call__(self, frame: np.ndarray, state: ModelState) -> np.ndarray:
        prompt = _clean_prompt(state.prompt)
        if prompt is None and state.image is None:
            return frame
        frame = self._as_rgb(frame)
        plan = self._plan(state, prompt)
        h, w = frame.shape[:2]
        sizes = self._size(w, h)
        out = frame
        if plan.palette is not None and plan.style not in _PALETTE_AFTER:
            out = plan.palette.transfer(out)
        if plan.style is not None:
            out = self._styles[plan.style](out, plan, sizes)
        if plan.palette is not None and plan.style in _PALETTE_AFTER:
            out = plan.palette.transfer(out, keep_luma=True)
        if out is frame:  # never hand back (or draw into) the caller's array
            out = frame.copy()
        if self.label:
            key = (w, h)
            if key not in plan.labels:
                plan.labels[key] = _make_label(f"local stand-in: {plan.name}", w, h)
            label = plan.labels[key]
            if label is not None:
                _draw_label(out, label)
        return out

    # -- caches

    @staticmethod
    def _as_rgb(frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:
            return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_GRAY2RGB)
        if frame.shape[2] == 4:
            frame = frame[:, :, :3]
        if frame.dtype != np.uint8 or not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
        return frame

    def _plan(self, state: ModelState, prompt: str | None) -> _Plan:
        key = (state.session_id, state.version, prompt, id(state.image))
        plan = self._plans.get(key)
        if plan is not None and plan.image is state.image:
            return plan
        style = select_style(prompt)
        plan = _Plan(
            style=style,
            name=describe(state),
            image=state.image,
            palette=_Palette.of(state.image) if state.image is not None else None,
            tint=_tint_matrix(prompt) if style == "tint" and prompt is not None else None,
        )
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > 32:
                self._plans.popitem(last=False)
        return plan

    def _size(self, w: int, h: int) -> _SizeCache:
        sc = self._sizes.get((w, h))
        if sc is None:
            sc = _SizeCache(w, h)
            with self._lock:
                self._sizes[(w, h)] = sc
                while len(self._sizes) > 8:
                    self._sizes.popitem(last=False)
        return sc

    # -- styles: each returns a new array and leaves its input alone

    @staticmethod
    def _anime(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        small = _down(frame, 2)
        smooth = cv2.bilateralFilter(small, 5, 60, 60)
        colour = cv2.LUT(_saturate(smooth, 0.45), _ANIME_LUT)
        grey = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 5)
        edges = cv2.Canny(grey, 50, 120)
        if min(small.shape[:2]) >= 200:
            edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
        colour = cv2.bitwise_and(colour, colour, mask=cv2.bitwise_not(edges))
        return _up(colour, sc.w, sc.h)

    @staticmethod
    def _sketch(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (3, 3), 0)
        small = _down(grey, 4)
        sigma = max(0.8, min(small.shape[:2]) / 90.0)
        blur = _up(cv2.GaussianBlur(small, (0, 0), sigma), sc.w, sc.h)
        dodge = cv2.divide(grey, blur, scale=256)  # colour dodge with the blurred inverse
        return cv2.LUT(cv2.cvtColor(dodge, cv2.COLOR_GRAY2RGB), _SKETCH_LUT)

    @staticmethod
    def _neon(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        small = _down(frame, 2)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (3, 3), 0)
        ex = cv2.LUT(
            cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0), alpha=0.5), _NEON_EDGE_LUT
        )
        ey = cv2.LUT(
            cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 0, 1), alpha=0.5), _NEON_EDGE_LUT
        )
        # horizontal gradients glow cyan (G+B), vertical ones magenta (R+B)
        lines = cv2.merge([ey, ex, cv2.max(ex, ey)])
        sigma = max(1.0, min(small.shape[:2]) / 110.0)
        glow = cv2.GaussianBlur(lines, (0, 0), sigma)
        lit = cv2.addWeighted(lines, 0.9, glow, 2.2, 0)
        base = cv2.LUT(small, _NEON_BASE_LUT)
        return _up(cv2.add(base, lit), sc.w, sc.h)

    @staticmethod
    def _sepia(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        grey = cv2.multiply(grey, sc.vignette(), scale=1.0 / 255.0)
        return cv2.LUT(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), _SEPIA_LUT)

    @staticmethod
    def _thermal(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        small = cv2.cvtColor(_down(frame, 4), cv2.COLOR_RGB2GRAY)
        small = cv2.GaussianBlur(small, (0, 0), max(0.7, min(small.shape[:2]) / 120.0))
        small = cv2.equalizeHist(small)  # like a camera's automatic gain
        return cv2.applyColorMap(_up(small, sc.w, sc.h), _INFERNO_RGB)

    @staticmethod
    def _watercolor(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        small = _down(frame, 2)
        small = cv2.medianBlur(small, 5 if min(small.shape[:2]) >= 5 else 3)
        small = cv2.bilateralFilter(small, 5, 50, 50)
        colour = cv2.LUT(_saturate(small, 0.25), _WATERCOLOR_LUT)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        pigment = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        colour = cv2.subtract(
            colour, cv2.cvtColor(cv2.convertScaleAbs(pigment, alpha=0.35), cv2.COLOR_GRAY2RGB)
        )
        return cv2.multiply(_up(colour, sc.w, sc.h), sc.grain(), scale=1.0 / 255.0)

    @staticmethod
    def _noir(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        grey = cv2.LUT(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), _NOIR_LUT)
        grey = cv2.multiply(grey, sc.vignette(), scale=1.0 / 255.0)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)

    def _underwater(self, frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        plan.ticks += 1
        phase = plan.ticks * 0.25
        w, h = sc.w, sc.h
        amp = max(0.5, h / 200.0)
        gx, gy = sc.grid()
        bufs = getattr(self._local, "bufs", None)
        if bufs is None or bufs[0].shape != (h, w):
            bufs = (np.empty((h, w), np.float32), np.empty((h, w), np.float32))
            self._local.bufs = bufs
        mx, my = bufs
        ys = np.arange(h, dtype=np.float32)
        xs = np.arange(w, dtype=np.float32)
        np.add(gx, (amp * np.sin(ys * (2 * np.pi / max(8.0, h / 9.0)) + phase))[:, None], out=mx)
        np.add(
            gy,
            (0.6 * amp * np.sin(xs * (2 * np.pi / max(8.0, w / 11.0)) + 1.3 * phase))[None, :],
            out=my,
        )
        rippled = cv2.remap(frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return cv2.LUT(rippled, _WATER_LUT, dst=rippled)

    @staticmethod
    def _pixel(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        block = max(2, sc.w // 128)
        small = _down(frame, 4 if block >= 8 else 1)
        cells = (max(1, sc.w // block), max(1, sc.h // block))
        small = cv2.resize(small, cells, interpolation=cv2.INTER_AREA)
        small = cv2.LUT(_saturate(small, 0.3), _PIXEL_LUT)
        return cv2.resize(small, (sc.w, sc.h), interpolation=cv2.INTER_NEAREST)

    @staticmethod
    def _tint(frame: np.ndarray, plan: _Plan, sc: _SizeCache) -> np.ndarray:
        assert plan.tint is not None
        return cv2.transform(frame, plan.tint)
