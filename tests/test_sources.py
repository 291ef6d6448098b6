"""Frame sources: numpy, still image, video file, camera device; the fit rules."""

from __future__ import annotations

import asyncio
import fractions
import glob
import logging
import threading
import time

import av
import cv2
import numpy as np
import pytest

from decart_widgets.errors import InvalidInputError
from decart_widgets.media import camera_source as camera_mod
from decart_widgets.media._fit import as_rgb_uint8, fit_frame
from decart_widgets.media.camera_source import CameraNotFoundError, CameraSource
from decart_widgets.media.file_source import FileSource
from decart_widgets.media.image_source import ImageSource
from decart_widgets.media.numpy_source import NumpySource
from decart_widgets.media.track import FramePump

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


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "count.mp4")


@pytest.fixture(scope="module")
def shaped_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("shaped")
    return {k: make_video(d / f"{k}.mp4", n=3, w=w, h=h) for k, (w, h) in ORIENTATIONS.items()}


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


# ---------------------------------------------------------------- FileSource


async def test_file_at_30fps_repeats_frames(video):
    src = FileSource(video)
    assert src.frame_rate == 15 and src.video_size == (320, 240)
    src.configure(320, 240, 30)
    got = [ident(f) for f in await read_all(src, 20, 30)]
    assert got == [i // 2 for i in range(20)]


async def test_file_at_10fps_skips_frames(video):
    src = FileSource(video)
    src.configure(320, 240, 10)
    got = [ident(f) for f in await read_all(src, 10, 10)]
    assert got == [int(i * 1.5) for i in range(10)]  # 0 1 3 4 6 7 9 10 12 13


async def test_file_loops_by_wrapping_time(video):
    src = FileSource(video)
    src.configure(160, 120, 30)
    got = [ident(f) for f in await read_all(src, 130, 30)]
    assert got == [(i // 2) % 30 for i in range(130)]
    assert src.duration == pytest.approx(2.0) and not src.ended
    assert src.seeks == 2  # one per wrap, no other seeking
    assert src.frames_decoded <= 3 * FILE_FRAMES + 6  # lazily: never far ahead


async def test_file_without_loop_holds_the_last_frame(video):
    src = FileSource(video, loop=False)
    src.configure(320, 240, 30)
    got = [ident(f) for f in await read_all(src, 70, 30)]
    assert got[:60] == [i // 2 for i in range(60)]
    assert got[60:] == [29] * 10
    assert src.ended


async def test_file_start_and_a_start_past_the_end(video):
    src = FileSource(video, start=1.0)
    src.configure(320, 240, 15)
    assert [ident(f) for f in await read_all(src, 3, 15)] == [15, 16, 17]
    late = FileSource(video, start=2.5)  # wraps to 0.5 s: frame 7
    late.configure(320, 240, 15)
    assert [ident(f) for f in await read_all(late, 3, 15)] == [7, 8, 9]
    held = FileSource(video, start=5.0, loop=False)
    held.configure(320, 240, 15)
    assert ident(await held.read(0, 0.0)) == 29 and held.ended


async def test_file_time_going_back_restarts(video):
    """A new pump (reconnect, replace_source) starts t at 0 again."""
    src = FileSource(video)
    src.configure(320, 240, 15)
    await read_all(src, 10, 15)
    src.configure(320, 240, 15)
    assert [ident(f) for f in await read_all(src, 2, 15)] == [0, 1]


async def test_file_letterboxes_and_repeats_the_same_read_only_array(video):
    src = FileSource(video)
    src.configure(1280, 720, 30)  # 4:3 into 16:9: 960x720 picture, 160 px bars
    a, b = await src.read(0, 0.0), await src.read(1, 1 / 30)
    assert a is b and not a.flags.writeable
    c = await src.read(2, 2 / 30)
    assert ident(c) == 1
    assert c[:, :158].max() == 0 and c[:, -158:].max() == 0
    assert c[:, 170:1110].min() > 0


@pytest.mark.parametrize("rotation, corner", [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")])
async def test_file_applies_rotation_metadata(tmp_path, rotation, corner):
    """Phone videos: stored landscape, displayed as the display matrix says."""
    src = FileSource(make_video(tmp_path / "phone.mp4", n=2, rotation=rotation))
    assert src.video_size == (320, 240)  # as stored
    w, h = (240, 320) if rotation % 180 else (320, 240)
    src.configure(w, h, 15)  # the displayed shape: no bars
    frame = await src.read(0, 0.0)
    corners = {
        "top-left": frame[5, 5], "top-right": frame[5, w - 6],
        "bottom-left": frame[h - 6, 5], "bottom-right": frame[h - 6, w - 6],
    }
    red = [k for k, px in corners.items() if px[0] > 200 and px[1] < 60]
    assert red == [corner]


async def test_file_close_is_idempotent_and_holds(video):
    src = FileSource(video)
    src.configure(320, 240, 15)
    await read_all(src, 3, 15)
    src.close()
    src.close()
    assert ident(await src.read(10, 10 / 15)) == 2


def test_file_bad_inputs(tmp_path):
    with pytest.raises(InvalidInputError, match="nope.mp4.*does not exist"):
        FileSource(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    with pytest.raises(InvalidInputError, match="notes.mp4") as err:
        FileSource(text)
    assert err.value.code == "INVALID_INPUT"
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(InvalidInputError, match="no video stream.*audio"):
        FileSource(wav)
    with pytest.raises(InvalidInputError, match="start"):
        FileSource(tmp_path / "nope.mp4", start=-1)


# -------------------------------------------------------------- CameraSource


async def _wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _no_camera_threads():
    return not [t for t in threading.enumerate() if t.name.startswith("decart-camera")]


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="this machine has a camera")
def test_camera_missing_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(camera_mod.sys, "platform", "linux")
    with pytest.raises(CameraNotFoundError, match=r"/dev/video\*") as err:
        CameraSource()
    assert isinstance(err.value, InvalidInputError) and err.value.code == "INVALID_INPUT"
    assert "browser camera" in err.value.message
    with pytest.raises(CameraNotFoundError, match="/dev/video3.*none"):
        CameraSource(3)
    with pytest.raises(CameraNotFoundError, match="/dev/video9"):
        CameraSource("/dev/video9", format="v4l2")


def test_camera_platform_defaults(monkeypatch):
    monkeypatch.setattr(camera_mod.sys, "platform", "darwin")
    cam = CameraSource(options={"video_size": "1280x720"})
    assert (cam.device, cam.format) == ("0", "avfoundation")
    assert cam.options == {"framerate": "30", "video_size": "1280x720"}
    monkeypatch.setattr(camera_mod.sys, "platform", "win32")
    with pytest.raises(CameraNotFoundError, match="named"):
        CameraSource()
    assert CameraSource("Integrated Camera").device == "video=Integrated Camera"
    assert CameraSource.mirror_default is True


async def test_camera_reader_on_a_file_newest_wins(video):
    cam = CameraSource(video, format=None)
    cam.configure(160, 120, 30)
    try:
        await _wait_for(lambda: cam.ended)
    finally:
        cam.close()  # the thread has finished the file: closing it changes nothing read
    assert cam.error is None
    frame = await cam.read(0, 0.0)
    assert ident(frame) == 29 and frame.shape == (120, 160, 3)  # only the newest survives
    assert cam.frames_captured == 30 and cam.frames_dropped == 29 and cam.frames_read == 1
    assert cam.input_size == (320, 240)
    assert await cam.read(1, 1 / 30) is frame  # nothing newer: the same frame again
    assert cam.frames_read == 1
    cam.close()
    assert not cam.running and _no_camera_threads()


async def test_camera_reader_live_and_close_stops_the_thread(video):
    cam = CameraSource(video, format=None)
    cam._realtime = True  # deliver frames at the file's 15 fps, like a device
    cam.configure(160, 120, 30)
    try:
        await _wait_for(lambda: cam.frames_captured)
        got = []
        for i in range(15):  # 0.5 s at 30 fps
            got.append(ident(await cam.read(i, i / 30)))
            await asyncio.sleep(1 / 30)
        assert got == sorted(got) and got[-1] >= 4  # moving forward in real time
        assert cam.frames_read >= 4 and not cam.ended
    finally:
        t0 = time.monotonic()
        cam.close()
    assert time.monotonic() - t0 < 0.5 and not cam.running and _no_camera_threads()


async def test_camera_waiting_frame_then_frames_and_error_frame(video, caplog):
    gate = threading.Event()

    class SlowCamera(CameraSource):
        def _open_container(self):
            gate.wait(5)
            return super()._open_container()

    cam = SlowCamera(video, format=None)
    cam.configure(160, 120, 30)
    try:
        waiting = await cam.read(0, 0.0)
        assert waiting.shape == (120, 160, 3) and 15 < waiting.mean() < 40  # dark, with text
        gate.set()
        await _wait_for(lambda: cam.frames_captured)
        assert (await cam.read(1, 1 / 30)) is not waiting
    finally:
        gate.set()
        cam.close()

    broken = CameraSource("/nonexistent/stream.mp4", format=None)
    with caplog.at_level(logging.ERROR, logger="decart_widgets.media.camera_source"):
        broken.configure(160, 120, 30)
        await _wait_for(lambda: broken.error is not None)
    assert any("could not open" in r.getMessage() for r in caplog.records)
    assert (await broken.read(0, 0.0)).shape == (120, 160, 3)
    broken.close()
    assert _no_camera_threads()


# ----------------------------------------------------------- through the pump


@pytest.mark.parametrize("kind", ["numpy", "image", "file", "camera"])
async def test_pump_pulls_frames_from_each_source(kind, video):
    if kind == "numpy":
        src = NumpySource(lambda t: thirds(96, 54))
    elif kind == "image":
        src = ImageSource(thirds(54, 96))
    elif kind == "file":
        src = FileSource(video)
    else:
        src = CameraSource(video, format=None)
        src._realtime = True
    pump = FramePump(src, 320, 240, 30)
    try:
        t0 = time.perf_counter()
        frames = [await pump.next_frame() for _ in range(10)]
        elapsed = time.perf_counter() - t0
    finally:
        pump.stop()
    assert all(isinstance(f, av.VideoFrame) and (f.width, f.height) == (320, 240) for f in frames)
    assert 0.25 < elapsed < 2.0  # paced at 30 fps (10 frames: 0.3 s)
    assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    if kind == "camera":
        assert _no_camera_threads()
