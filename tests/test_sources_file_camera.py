"""Frame sources: video files, camera devices, and every source through the pump."""

from __future__ import annotations

import asyncio
import glob
import logging
import threading
import time

import av
import numpy as np
import pytest
from _source_helpers import (
    FILE_FRAMES,
    ident,
    make_video,
    read_all,
    thirds,
)

from decart_widgets.errors import InvalidInputError
from decart_widgets.media import camera_source as camera_mod
from decart_widgets.media.camera_source import CameraNotFoundError, CameraSource
from decart_widgets.media.file_source import FileSource
from decart_widgets.media.image_source import ImageSource
from decart_widgets.media.numpy_source import NumpySource
from decart_widgets.media.track import FramePump


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "count.mp4")


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
