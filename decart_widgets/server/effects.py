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
The building blocks (tables, palette, per-size caches, label) live in
:mod:`._effect_parts`.
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

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ._effect_parts import (
    ANIME_LUT,
    INFERNO_RGB,
    NEON_BASE_LUT,
    NEON_EDGE_LUT,
    NOIR_LUT,
    PIXEL_LUT,
    SEPIA_LUT,
    SKETCH_LUT,
    WATER_LUT,
    WATERCOLOR_LUT,
    Label,
    Palette,
    SizeCache,
    down,
    draw_label,
    make_label,
    saturate,
    tint_matrix,
    up,
)
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


# ---------------------------------------------------------------- the model


@dataclass
class _Plan:
    """What one state asks for; built once per state."""

    style: str | None
    name: str
    image: np.ndarray | None  # identity check for the cache
    palette: Palette | None
    tint: np.ndarray | None = None
    ticks: int = 0
    labels: dict[tuple[int, int], Label | None] = field(default_factory=dict)


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
        self._sizes: OrderedDict[tuple[int, int], SizeCache] = OrderedDict()
        self._local = threading.local()
        self._styles: dict[str, Callable[[np.ndarray, _Plan, SizeCache], np.ndarray]] = {
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
                plan.labels[key] = make_label(f"local stand-in: {plan.name}", w, h)
            label = plan.labels[key]
            if label is not None:
                draw_label(out, label)
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
            palette=Palette.of(state.image) if state.image is not None else None,
            tint=tint_matrix(prompt) if style == "tint" and prompt is not None else None,
        )
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > 32:
                self._plans.popitem(last=False)
        return plan

    def _size(self, w: int, h: int) -> SizeCache:
        sc = self._sizes.get((w, h))
        if sc is None:
            sc = SizeCache(w, h)
            with self._lock:
                self._sizes[(w, h)] = sc
                while len(self._sizes) > 8:
                    self._sizes.popitem(last=False)
        return sc

    # -- styles: each returns a new array and leaves its input alone

    @staticmethod
    def _anime(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        small = down(frame, 2)
        smooth = cv2.bilateralFilter(small, 5, 60, 60)
        colour = cv2.LUT(saturate(smooth, 0.45), ANIME_LUT)
        grey = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 5)
        edges = cv2.Canny(grey, 50, 120)
        if min(small.shape[:2]) >= 200:
            edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
        colour = cv2.bitwise_and(colour, colour, mask=cv2.bitwise_not(edges))
        return up(colour, sc.w, sc.h)

    @staticmethod
    def _sketch(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (3, 3), 0)
        small = down(grey, 4)
        sigma = max(0.8, min(small.shape[:2]) / 90.0)
        blur = up(cv2.GaussianBlur(small, (0, 0), sigma), sc.w, sc.h)
        dodge = cv2.divide(grey, blur, scale=256)  # colour dodge with the blurred inverse
        return cv2.LUT(cv2.cvtColor(dodge, cv2.COLOR_GRAY2RGB), SKETCH_LUT)

    @staticmethod
    def _neon(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        small = down(frame, 2)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (3, 3), 0)
        ex = cv2.LUT(
            cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0), alpha=0.5), NEON_EDGE_LUT
        )
        ey = cv2.LUT(
            cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 0, 1), alpha=0.5), NEON_EDGE_LUT
        )
        # horizontal gradients glow cyan (G+B), vertical ones magenta (R+B)
        lines = cv2.merge([ey, ex, cv2.max(ex, ey)])
        sigma = max(1.0, min(small.shape[:2]) / 110.0)
        glow = cv2.GaussianBlur(lines, (0, 0), sigma)
        lit = cv2.addWeighted(lines, 0.9, glow, 2.2, 0)
        base = cv2.LUT(small, NEON_BASE_LUT)
        return up(cv2.add(base, lit), sc.w, sc.h)

    @staticmethod
    def _sepia(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        grey = cv2.multiply(grey, sc.vignette(), scale=1.0 / 255.0)
        return cv2.LUT(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), SEPIA_LUT)

    @staticmethod
    def _thermal(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        small = cv2.cvtColor(down(frame, 4), cv2.COLOR_RGB2GRAY)
        small = cv2.GaussianBlur(small, (0, 0), max(0.7, min(small.shape[:2]) / 120.0))
        small = cv2.equalizeHist(small)  # like a camera's automatic gain
        return cv2.applyColorMap(up(small, sc.w, sc.h), INFERNO_RGB)

    @staticmethod
    def _watercolor(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        small = down(frame, 2)
        small = cv2.medianBlur(small, 5 if min(small.shape[:2]) >= 5 else 3)
        small = cv2.bilateralFilter(small, 5, 50, 50)
        colour = cv2.LUT(saturate(small, 0.25), WATERCOLOR_LUT)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        pigment = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        colour = cv2.subtract(
            colour, cv2.cvtColor(cv2.convertScaleAbs(pigment, alpha=0.35), cv2.COLOR_GRAY2RGB)
        )
        return cv2.multiply(up(colour, sc.w, sc.h), sc.grain(), scale=1.0 / 255.0)

    @staticmethod
    def _noir(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        grey = cv2.LUT(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), NOIR_LUT)
        grey = cv2.multiply(grey, sc.vignette(), scale=1.0 / 255.0)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)

    def _underwater(self, frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
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
        return cv2.LUT(rippled, WATER_LUT, dst=rippled)

    @staticmethod
    def _pixel(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        block = max(2, sc.w // 128)
        small = down(frame, 4 if block >= 8 else 1)
        cells = (max(1, sc.w // block), max(1, sc.h // block))
        small = cv2.resize(small, cells, interpolation=cv2.INTER_AREA)
        small = cv2.LUT(saturate(small, 0.3), PIXEL_LUT)
        return cv2.resize(small, (sc.w, sc.h), interpolation=cv2.INTER_NEAREST)

    @staticmethod
    def _tint(frame: np.ndarray, plan: _Plan, sc: SizeCache) -> np.ndarray:
        assert plan.tint is not None
        return cv2.transform(frame, plan.tint)
