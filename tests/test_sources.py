"""Frame sources: the fit rules, every source at every size, numpy arrays and still images."""

from __future__ import annotations

import asyncio
import logging
import threading

import cv2
import numpy as np
import pytest
from _source_helpers import (
    MODES,
    ORIENTATIONS,
    SIZES,
    make_video,
    read_all,
    thirds,
    white,
)

from decart_widgets.errors import InvalidInputError
from decart_widgets.media._fit import as_rgb_uint8, fit_frame
from decart_widgets.media.file_source import FileSource
from decart_widgets.media.image_source import ImageSource
from decart_widgets.media.numpy_source import NumpySource


@pytest.fixture(scope="module")
def shaped_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("shaped")
    return {k: make_video(d / f"{k}.mp4", n=3, w=w, h=h) for k, (w, h) in ORIENTATIONS.items()}


# ------------------------------------------------------------------ fit rules


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("orient", list(ORIENTATIONS))
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fit_shape_every_size_orientation_mode(size, orient, mode):
    w, h = ORIENTATIONS[orient]
    out = fit_frame(thirds(w, h), *size, mode)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8 and out.flags.c_contiguous


def test_letterbox_pillarbox_bars_left_right():
    out = fit_frame(white(100, 100), 160, 90)  # 90x90 picture, centred
    assert out.shape == (90, 160, 3)
    assert (out[:, :35] == 0).all() and (out[:, 125:] == 0).all()
    assert (out[:, 35:125] == 255).all()


def test_letterbox_bars_top_bottom_for_a_wide_image():
    out = fit_frame(white(200, 50), 100, 100)  # 100x25 picture (even: 26), centred
    rows = np.flatnonzero(out[:, 50, 0] == 255)
    assert out[0].max() == 0 and out[-1].max() == 0
    assert rows[0] == 100 - rows[-1] - 1  # equal bars
    assert len(rows) == 26


def test_crop_fills_with_the_centre():
    out = fit_frame(thirds(300, 100), 100, 100, "crop")  # only the green third remains
    assert out.shape == (100, 100, 3)
    assert (out[..., 1] == 255).all() and out[..., 0].max() == 0 and out[..., 2].max() == 0


def test_stretch_keeps_everything_distorted():
    out = fit_frame(thirds(300, 100), 90, 90, "stretch")
    assert tuple(out[45, 10]) == (255, 0, 0)
    assert tuple(out[45, 45]) == (0, 255, 0)
    assert tuple(out[45, 80]) == (0, 0, 255)
    assert out.min(axis=(0, 1)).tolist() == [0, 0, 0]  # no bars: every column coloured
    assert (out.max(axis=2) == 255).all()


def test_fit_fast_path_returns_the_same_array():
    a = thirds(160, 90)
    assert fit_frame(a, 160, 90) is a
    flipped = a[:, ::-1]  # right shape but not contiguous: a contiguous copy
    out = fit_frame(flipped, 160, 90)
    assert out is not flipped and out.flags.c_contiguous and np.array_equal(out, flipped)


def test_fit_accepts_gray_rgba_float():
    gray = np.full((10, 10), 77, np.uint8)
    assert as_rgb_uint8(gray).shape == (10, 10, 3) and (as_rgb_uint8(gray) == 77).all()
    assert as_rgb_uint8(gray[..., None]).shape == (10, 10, 3)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    out = as_rgb_uint8(rgba)
    assert out.shape == (10, 10, 3) and tuple(out[0, 0]) == (200, 0, 0)
    f = np.full((10, 10, 3), 0.5, np.float32)
    assert as_rgb_uint8(f).dtype == np.uint8 and (as_rgb_uint8(f) == 128).all()
    assert (as_rgb_uint8(np.ones((4, 4), np.float64)) == 255).all()


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.full((10, 10, 3), 200.0), ["[0, 1]", "float64"]),
        (np.full((10, 10, 3), np.nan, np.float32), ["[0, 1]"]),
        (np.zeros((10, 10, 3), np.int64), ["int64", "(10, 10, 3)", "uint8"]),
        (np.zeros((10, 10, 2), np.uint8), ["(10, 10, 2)", "HxWx3"]),
        (np.zeros((10,), np.uint8), ["(10,)"]),
        (np.zeros((0, 10, 3), np.uint8), ["empty"]),
        ([[1, 2], [3, 4]], ["list"]),
    ],
    ids=["float-0-255", "nan", "int64", "2-channels", "1d", "empty", "list"],
)
def test_fit_rejects_what_it_cannot_use(bad, words):
    with pytest.raises(InvalidInputError) as err:
        fit_frame(bad, 64, 48)
    assert err.value.code == "INVALID_INPUT"
    for w in words:
        assert w in err.value.message


@pytest.mark.parametrize(
    "make",
    [
        lambda: NumpySource(lambda t: None, fit="zoom"),
        lambda: ImageSource(white(4, 4), fit="zoom"),
    ],
)
def test_unknown_fit_mode(make):
    with pytest.raises(InvalidInputError, match="letterbox"):
        make()


# ---------------------------------------------------------- every source, every size


def _source(kind, orient, shaped_videos):
    w, h = ORIENTATIONS[orient]
    if kind == "numpy":
        return NumpySource(lambda t: thirds(w, h))
    if kind == "image":
        return ImageSource(thirds(w, h))
    return FileSource(shaped_videos[orient])


@pytest.mark.parametrize("kind", ["numpy", "image", "file"])
async def test_each_source_gives_the_configured_size(kind, shaped_videos):
    for orient in ORIENTATIONS:
        for mode in MODES:
            src = _source(kind, orient, shaped_videos)
            src._fit = mode
            for w, h in SIZES:
                src.configure(w, h, 30)
                for i in range(2):
                    frame = await src.read(i, i / 30)
                    assert frame.shape == (h, w, 3) and frame.dtype == np.uint8, (orient, mode, w, h)
            src.close()


# --------------------------------------------------------------- NumpySource


async def test_numpy_callable_gets_increasing_t_in_a_worker_thread():
    seen = []

    def fn(t):
        seen.append((t, threading.current_thread() is threading.main_thread()))
        return np.full((48, 64, 3), min(255, int(t * 100)), np.uint8)

    src = NumpySource(fn)
    src.configure(64, 48, 10)
    frames = await read_all(src, 5, 10)
    assert [t for t, _ in seen] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert not any(on_main for _, on_main in seen)  # off the event loop's thread
    assert [int(f[0, 0, 0]) for f in frames] == [0, 10, 20, 30, 40]
    assert src.frames_produced == 5 and src.errors == 0


async def test_numpy_callable_with_index():
    calls = []
    src = NumpySource(lambda t, index: calls.append((t, index)) or white(8, 8))
    src.configure(16, 16, 20)
    await read_all(src, 3, 20, start=4)
    assert calls == [(0.2, 4), (0.25, 5), (pytest.approx(0.3), 6)]


async def test_numpy_async_callable_runs_on_the_loop():
    loop_thread = threading.current_thread()
    seen = []

    async def fn(t):
        await asyncio.sleep(0)
        seen.append(threading.current_thread() is loop_thread)
        return thirds(30, 30)

    src = NumpySource(fn)
    src.configure(30, 30, 30)
    frames = await read_all(src, 3, 30)
    assert seen == [True] * 3 and all(f.shape == (30, 30, 3) for f in frames)


async def test_numpy_iterator_repeats_the_last_frame_when_exhausted():
    src = NumpySource(np.full((8, 8, 3), i, np.uint8) for i in (10, 20, 30))
    src.configure(8, 8, 30)
    frames = await read_all(src, 6, 30)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 30, 30, 30, 30]
    assert src.ended and src.errors == 0


async def test_numpy_loop_restarts_a_list():
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (1, 2, 3)]
    src = NumpySource(frames, loop=True)
    src.configure(8, 8, 30)
    assert [int(f[0, 0, 0]) for f in await read_all(src, 7, 30)] == [1, 2, 3, 1, 2, 3, 1]
    assert not src.ended


async def test_numpy_stack_and_single_array():
    stack = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (5, 6)])
    src = NumpySource(stack, loop=True)
    src.configure(8, 8, 30)
    assert [int(f[0, 0, 0]) for f in await read_all(src, 4, 30)] == [5, 6, 5, 6]
    still = NumpySource(np.full((4, 4), 9, np.uint8))  # grayscale still, upscaled
    still.configure(8, 8, 30)
    assert all((f == 9).all() for f in await read_all(still, 3, 30))


def test_numpy_rejects_what_it_cannot_iterate():
    def gen():
        yield white(4, 4)

    with pytest.raises(InvalidInputError, match="loop=True"):
        NumpySource(gen(), loop=True)  # one-shot: cannot restart
    with pytest.raises(InvalidInputError, match="generator function"):
        NumpySource(gen)
    with pytest.raises(InvalidInputError, match="ImageSource"):
        NumpySource("frame.png")
    with pytest.raises(InvalidInputError):
        NumpySource(42)
    with pytest.raises(InvalidInputError, match="shape"):
        NumpySource(np.zeros((2, 2, 2, 2, 3), np.uint8))


async def test_numpy_errors_keep_the_stream_going(caplog):
    def fn(t):
        if 0.15 < t < 0.45:
            raise RuntimeError(f"boom at {t:.1f}")
        return np.full((8, 8, 3), int(t * 100), np.uint8)

    src = NumpySource(fn)
    src.configure(8, 8, 10)
    with caplog.at_level(logging.WARNING, logger="decart_widgets.media.numpy_source"):
        frames = await read_all(src, 6, 10)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 10, 10, 10, 10, 50]  # previous frame held
    assert src.errors == 3
    assert isinstance(src.last_error, RuntimeError) and "0.4" in str(src.last_error)
    assert len([r for r in caplog.records if "boom" in r.getMessage()]) == 1  # logged once


async def test_numpy_error_before_any_frame_sends_black_and_bad_arrays_count():
    def fn(t):
        if t == 0:
            raise ValueError("not yet")
        return np.zeros((8, 8, 3), np.int64)  # unusable dtype

    src = NumpySource(fn)
    src.configure(16, 8, 10)
    frames = await read_all(src, 2, 10)
    assert all(f.shape == (8, 16, 3) and f.max() == 0 for f in frames)
    assert src.errors == 2 and isinstance(src.last_error, InvalidInputError)


async def test_numpy_close_finishes_a_generator():
    finished = []

    def gen():
        try:
            while True:
                yield white(8, 8)
        finally:
            finished.append(True)

    src = NumpySource(gen())
    src.configure(8, 8, 30)
    await read_all(src, 2, 30)
    src.close()
    src.close()
    assert finished == [True]
    assert (await src.read(2, 2 / 30)).shape == (8, 8, 3)  # holds the last frame


# --------------------------------------------------------------- ImageSource


RED = np.zeros((60, 80, 3), np.uint8)
RED[..., 0] = 255  # RGB red


async def test_image_from_path_bytes_and_array_is_rgb(tmp_path):
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), cv2.cvtColor(RED, cv2.COLOR_RGB2BGR))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(RED, cv2.COLOR_RGB2BGR))
    assert ok
    for image in (path, str(path), path.read_bytes(), jpeg.tobytes(), RED):
        src = ImageSource(image)
        assert src.image_size == (80, 60)
        src.configure(160, 120, 30)
        frame = await src.read(0, 0.0)
        r, g, b = frame[60, 80].astype(int)
        assert r > 240 and g < 15 and b < 15, type(image)


async def test_image_is_fitted_once_and_read_only():
    arr = white(100, 100)
    src = ImageSource(arr)
    src.configure(160, 90, 30)
    a, b = await src.read(0, 0.0), await src.read(1, 1 / 30)
    assert a is b  # no per-frame work
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1
    assert (a[:, :35] == 0).all() and (a[:, 35:125] == 255).all()
    arr[:] = 0  # the caller's array is not the source's
    src.configure(100, 100, 30)
    assert (await src.read(0, 0.0) == 255).all()


@pytest.mark.parametrize(
    "bad, match",
    [
        ("missing", "does not exist"),
        ("dir", "is a directory"),
        ("text", "could not be decoded"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\nnot really", "could not be decoded"),
        ("https://example.com/cat.png", "URL"),
        (42, "int"),
        (np.zeros((4, 4, 3), np.int32), "int32"),
    ],
)
def test_image_bad_inputs(tmp_path, bad, match):
    if isinstance(bad, str) and bad == "missing":
        bad = tmp_path / "nope.png"
    elif isinstance(bad, str) and bad == "dir":
        bad = tmp_path
    elif isinstance(bad, str) and bad == "text":
        bad = tmp_path / "notes.txt"
        bad.write_text("hello")
    with pytest.raises(InvalidInputError, match=match) as err:
        ImageSource(bad)
    assert err.value.code == "INVALID_INPUT"
