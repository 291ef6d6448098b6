"""The local server's default model: styles, palette, passthrough, label, sizes."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from decart_widgets.common.stamp import stamp_rect
from decart_widgets.server.effects import (
    STYLE_DESCRIPTIONS,
    STYLES,
    EffectsModel,
    describe,
    select_style,
)
from decart_widgets.server.model_api import ModelState

ALL_STYLES = [*STYLES, "tint"]
# one prompt per style (the tint one matches no keyword)
PROMPTS = {name: f"turn this into {keywords[0]} please" for name, keywords in STYLES.items()}
PROMPTS["tint"] = "a quiet town at dusk"


def textured(w: int = 320, h: int = 240, seed: int = 0) -> np.ndarray:
    """Gradients, shapes, edges and noise: something every filter has work to do on."""
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    img = np.stack([60 + 150 * xs + 0 * ys, 80 + 120 * ys + 0 * xs, 200 - 120 * xs * ys], axis=-1)
    rng = np.random.default_rng(seed)
    img = np.clip(img + rng.normal(0, 6, (h, w, 1)), 0, 255).astype(np.uint8)
    s = max(1, min(w, h) // 24)
    cv2.rectangle(img, (w // 8, h // 3), (w // 8 + 4 * s, h // 3 + 5 * s), (220, 50, 40), -1)
    cv2.circle(img, (w * 2 // 3, h // 2), 3 * s, (250, 230, 90), -1)
    cv2.rectangle(img, (w // 2, h * 3 // 4), (w // 2 + 6 * s, h * 3 // 4 + 2 * s), (20, 20, 30), -1)
    cv2.line(img, (0, h - 1), (w - 1, h // 5), (240, 240, 240), max(1, s // 2))
    return img


def state(prompt=None, image=None, version=1, **kw) -> ModelState:
    return ModelState(prompt=prompt, image=image, version=version, **kw)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return textured()


@pytest.fixture(scope="module")
def outputs(img) -> dict[str, np.ndarray]:
    model = EffectsModel(label=False)
    return {name: model(img, state(PROMPTS[name])) for name in ALL_STYLES}


# ---------------------------------------------------------------- keywords


@pytest.mark.parametrize(
    "name,keyword", [(n, k) for n, ks in STYLES.items() for k in ks], ids=lambda v: str(v)
)
def test_every_keyword_selects_its_style(name, keyword):
    assert select_style(keyword) == name
    assert select_style(f"Make it {keyword.upper()}, please") == name
    assert select_style(f"a {keyword.title()} portrait") == name


def test_keyword_matching_rules():
    assert select_style("Painting of a cat") == "watercolor"  # word prefix
    assert select_style("bold colours") == "tint"  # "old" must start a word
    assert select_style("a cold seashore") == "underwater"  # "sea" starts "seashore"
    assert select_style("a neon anime city") == "anime"  # table order, not prompt order
    assert select_style("CYBERPUNK") == "neon"
    assert select_style("a quiet town at dusk") == "tint"
    for blank in (None, "", "   ", "\n\t"):
        assert select_style(blank) is None


def test_style_table_is_documented():
    assert len(STYLES) >= 6
    for name in (*STYLES, "tint", "palette"):
        assert STYLE_DESCRIPTIONS[name]
    for name, keywords in STYLES.items():
        assert keywords and all(k == k.lower() for k in keywords), name


def test_describe():
    ref = textured(40, 30)
    assert describe(state()) == "passthrough"
    assert describe(state("   ")) == "passthrough"
    assert describe(state("pencil sketch")) == "sketch"
    assert describe(state("something else entirely")) == "tint"
    assert describe(state(None, ref)) == "palette"
    assert describe(state("  ", ref)) == "palette"
    assert describe(state("neon city", ref)) == "palette+neon"
    assert EffectsModel.describe(state("thermal")) == "thermal"


# ---------------------------------------------------------------- styles


@pytest.mark.parametrize("name", ALL_STYLES)
def test_style_visibly_changes_the_image(img, outputs, name):
    out = outputs[name]
    assert out.shape == img.shape and out.dtype == np.uint8
    assert mad(out, img) > 12, name


def test_styles_differ_from_each_other(outputs):
    for a, b in itertools.combinations(ALL_STYLES, 2):
        assert mad(outputs[a], outputs[b]) > 8, (a, b)


def test_grey_styles_are_grey_and_colour_styles_are_not(outputs):
    def chroma(x):
        return float(np.mean(np.ptp(x.astype(np.int16), axis=2)))

    assert chroma(outputs["noir"]) < 1
    assert chroma(outputs["sketch"]) < 25  # warm paper tint only
    for name in ("anime", "neon", "thermal", "watercolor", "pixel", "tint", "underwater"):
        assert chroma(outputs[name]) > 25, name


def test_unknown_prompt_tint_is_deterministic(img):
    a = EffectsModel(label=False)(img, state("a quiet town at dusk", version=3))
    b = EffectsModel(label=False)(img, state("a quiet town at dusk", version=9, session_id="x"))
    c = EffectsModel(label=False)(img, state("  A quiet   town at DUSK ", version=4))
    d = EffectsModel(label=False)(img, state("a busy harbour at noon", version=5))
    assert mad(a, img) > 12
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)  # case and spacing do not matter
    assert mad(a, d) > 3  # another prompt, another tint


def test_enhance_is_ignored(img):
    model = EffectsModel(label=False)
    a = model(img, state("anime", enhance=True, version=1))
    b = model(img, state("anime", enhance=False, version=2))
    np.testing.assert_array_equal(a, b)


def test_hand_made_states_with_equal_versions_do_not_share_a_cache(img, outputs):
    model = EffectsModel(label=False)
    for name in ("sketch", "neon", "thermal"):
        out = model(img, ModelState(prompt=PROMPTS[name]))  # version 0 each time
        np.testing.assert_array_equal(out, outputs[name])
    warm, cold = (
        np.full((8, 8, 3), (240, 120, 40), np.uint8),
        np.full((8, 8, 3), (30, 90, 230), np.uint8),
    )
    a = model(img, ModelState(image=warm))
    b = model(img, ModelState(image=cold))
    assert a.mean(axis=(0, 1))[0] > b.mean(axis=(0, 1))[0] + 30


# ---------------------------------------------------------------- passthrough


@pytest.mark.parametrize("prompt", [None, "", "   ", "\n"])
def test_passthrough_returns_the_frame_itself(img, prompt):
    frame = img.copy()
    out = EffectsModel()(frame, state(prompt))
    assert out is frame
    np.testing.assert_array_equal(out, img)


# ---------------------------------------------------------------- palette


def test_palette_moves_mean_colour_toward_reference(img):
    ref = np.zeros((90, 120, 3), np.uint8)
    ref[:] = (235, 130, 60)  # orange
    ref[45:] = (200, 80, 70)
    model = EffectsModel(label=False)
    out = model(img, state(None, ref))
    target = ref.reshape(-1, 3).mean(axis=0)
    before = np.linalg.norm(img.reshape(-1, 3).mean(axis=0) - target)
    after = np.linalg.norm(out.reshape(-1, 3).mean(axis=0) - target)
    assert after < 0.5 * before, (before, after)
    assert out.reshape(-1, 3).mean(axis=0)[0] > img.reshape(-1, 3).mean(axis=0)[0] + 20


def test_palette_and_style_both_apply(img, outputs):
    ref = np.full((30, 40, 3), (240, 110, 150), np.uint8)  # pink
    model = EffectsModel(label=False)
    palette = model(img, state(None, ref, version=1))
    for name in ("anime", "sketch", "thermal"):
        both = model(img, state(PROMPTS[name], ref, version=2))
        assert mad(both, palette) > 8, name
        assert mad(both, outputs[name]) > 5, name
    # a grey style comes out tinted with the palette (red above blue for pink)
    tinted = model(img, state("pencil sketch", ref, version=3)).reshape(-1, 3).mean(axis=0)
    assert tinted[0] > tinted[2] + 5


def test_palette_accepts_grey_and_rgba_references(img):
    model = EffectsModel(label=False)
    grey = np.full((20, 20), 90, np.uint8)
    rgba = np.dstack([textured(30, 20), np.full((20, 30), 255, np.uint8)])
    for ref in (grey, rgba):
        out = model(img, state(None, ref))
        assert out.shape == img.shape and out.dtype == np.uint8


# ---------------------------------------------------------------- sizes, dtype, input safety

SIZES = [(640, 480), (1280, 720), (1280, 704), (320, 240), (101, 77), (17, 9), (2, 2), (1, 1)]


@pytest.mark.parametrize("w,h", SIZES, ids=lambda v: str(v))
def test_every_style_handles_every_size(w, h):
    frame = textured(w, h, seed=w * h)
    before = frame.copy()
    ref = textured(64, 48, seed=5)
    model = EffectsModel()
    cases = [state(PROMPTS[name], version=i) for i, name in enumerate(ALL_STYLES)]
    cases += [
        state(None, ref, version=100),
        state("anime", ref, version=101),
        state("noir", ref, version=102),
    ]
    for st in cases:
        out = model(frame, st)
        assert out.shape == (h, w, 3), describe(st)
        assert out.dtype == np.uint8
        assert out.flags.c_contiguous
        assert out is not frame
        np.testing.assert_array_equal(frame, before, err_msg=f"input mutated by {describe(st)}")


def test_non_contiguous_and_rgba_frames(img):
    model = EffectsModel()
    flipped = img[:, ::-1]
    out = model(flipped, state("anime"))
    assert out.shape == img.shape and out.flags.c_contiguous
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    out = model(rgba, state("sepia"))
    assert out.shape == img.shape


def test_output_is_never_the_input_even_when_a_style_keeps_pixels():
    frame = np.zeros((48, 64, 3), np.uint8)  # black: noir keeps it black
    for label in (True, False):
        out = EffectsModel(label=label)(frame, state("noir"))
        assert out is not frame
    assert not frame.any()


# ---------------------------------------------------------------- label


@pytest.mark.parametrize("w,h", [(1280, 720), (640, 480), (320, 240), (101, 77)])
@pytest.mark.parametrize("name", ["sketch", "neon", "tint", "palette"])
def test_label_only_touches_the_bottom_right_quadrant(w, h, name):
    frame = textured(w, h)
    ref = textured(32, 24, seed=3)
    st = state(None, ref) if name == "palette" else state(PROMPTS[name])
    on = EffectsModel(label=True)(frame, st)
    off = EffectsModel(label=False)(frame, st)
    diff = np.any(on != off, axis=2)
    assert diff.any(), "the label should be visible"
    ys, xs = np.nonzero(diff)
    assert ys.min() >= h // 2 and xs.min() >= w // 2
    sw, sh = stamp_rect(w, h) if w >= 80 else (w, max(8, h // 40))
    assert not diff[:sh, :sw].any()  # the counter strip is left alone
    # semi-transparent: the box darkens what is behind it, it does not paint it out
    darker = on.astype(np.int16).sum(axis=2) < off.astype(np.int16).sum(axis=2)
    assert darker[diff].mean() > 0.5


def test_label_off_and_tiny_frames_have_no_label():
    frame = textured(24, 16)
    st = state("sketch")
    np.testing.assert_array_equal(
        EffectsModel(label=True)(frame, st), EffectsModel(label=False)(frame, st)
    )
    assert EffectsModel(label=False).label is False
    assert "label=True" in repr(EffectsModel())


# ---------------------------------------------------------------- the benchmark script


def test_bench_script_runs_small():
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_effects.py"
    spec = importlib.util.spec_from_file_location("bench_effects", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.run(iterations=1, width=160, height=90)
    assert {r["style"] for r in rows} >= {"passthrough", *STYLES, "tint", "palette"}
    frame = bench.synthetic_frame(160, 90, 3)
    assert frame.shape == (90, 160, 3) and frame.std() > 20
