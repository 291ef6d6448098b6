"""FramePump pacing: a fixed clock for generated sources, frame arrival for live ones."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from decart_widgets.media.browser import BrowserCameraSource
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import LIVE_REPEAT_AFTER, FramePump


async def test_generated_source_runs_on_the_model_clock():
    pump = FramePump(TestPatternSource(), 320, 240, 30)
    t0 = time.perf_counter()
    frames = [await pump.next_frame() for _ in range(16)]
    elapsed = time.perf_counter() - t0
    assert 0.4 < elapsed < 1.5, elapsed  # 15 intervals of 1/30 s
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and (pts[1] - pts[0]) == 3000  # 90 kHz / 30 fps
    assert (frames[0].width, frames[0].height) == (320, 240)
    pump.stop()


async def test_live_source_frames_go_out_as_they_arrive():
    cam = BrowserCameraSource()
    pump = FramePump(cam, 320, 240, 30)
    await pump.next_frame()  # the "waiting for camera" frame starts the stream
    await asyncio.sleep(0.05)
    delays = []
    for i in range(6):
        frame = np.full((240, 320, 3), 40 * i, np.uint8)
        loop = asyncio.get_running_loop()
        pushed = time.perf_counter()
        # pushed from another thread, as the transports do
        loop.call_later(0.04, cam.push, frame)
        out = await pump.next_frame()
        delays.append(time.perf_counter() - pushed - 0.04)
        assert abs(int(out.to_ndarray(format="rgb24")[120, 160, 0]) - 40 * i) <= 3
    # sent within a few ms of arriving, not on the next tick of a 30 fps clock
    assert np.median(delays) < 0.015, delays
    assert cam.frames_read == 6
    pump.stop()


async def test_live_source_repeats_its_last_frame_when_silent_and_caps_the_rate():
    cam = BrowserCameraSource()
    pump = FramePump(cam, 320, 240, 30)
    cam.push(np.zeros((240, 320, 3), np.uint8))
    await pump.next_frame()
    t0 = time.perf_counter()
    await pump.next_frame()  # nothing new: the last frame again after a while
    silent = time.perf_counter() - t0
    assert LIVE_REPEAT_AFTER * 0.8 < silent < LIVE_REPEAT_AFTER + 0.3, silent
    # a camera faster than the model's fps is sampled at most at that fps
    for _ in range(10):
        cam.push(np.zeros((240, 320, 3), np.uint8))
    t0 = time.perf_counter()
    for _ in range(4):
        cam.push(np.zeros((240, 320, 3), np.uint8))
        await pump.next_frame()
    assert time.perf_counter() - t0 >= 3 * 0.9 / 30
    pump.stop()


async def test_ready_camera_frames_skip_rgb_unless_something_needs_pixels():
    from decart_widgets.media.convert import ndarray_to_frame

    cam = BrowserCameraSource()
    needs = {"pixels": False}
    pump = FramePump(cam, 320, 240, 30, needs_pixels=lambda: needs["pixels"])
    await pump.next_frame()
    received = ndarray_to_frame(np.full((240, 320, 3), 90, np.uint8))  # as the browser link decodes it
    cam.push_frame(received)
    assert await pump.next_frame() is received  # straight to the encoder
    needs["pixels"] = True  # a tap appeared: frames go through RGB again
    cam.push_frame(received)
    out = await pump.next_frame()
    assert out is not received and abs(int(out.to_ndarray(format="rgb24")[10, 10, 0]) - 90) <= 3
    # another size, or a mirrored camera, also takes the RGB path
    needs["pixels"] = False
    cam.push_frame(ndarray_to_frame(np.zeros((480, 640, 3), np.uint8)))
    assert (await pump.next_frame()).width == 320
    pump.stop()


async def test_the_pump_mirrors_a_selfie_camera_but_not_its_waiting_frame():
    from decart_widgets.media.convert import ndarray_to_frame

    cam = BrowserCameraSource()
    cam.selfie = True
    pump = FramePump(cam, 1280, 720, 30, mirror="auto", needs_pixels=lambda: False)
    waiting = (await pump.next_frame()).to_ndarray(format="rgb24")
    unmirrored = BrowserCameraSource()
    unmirrored.configure(1280, 720, 30)
    assert np.abs(waiting.astype(int) - await unmirrored.read(0, 0.0)).max() <= 8  # the text reads as is
    grad = np.tile(np.arange(0, 256, 2, dtype=np.uint8)[None, :, None], (72, 1, 3))  # 128 wide
    cam.push_frame(ndarray_to_frame(np.ascontiguousarray(np.repeat(grad, 10, axis=1)[:, :1280][:72].repeat(10, axis=0))))
    flipped = (await pump.next_frame()).to_ndarray(format="rgb24")  # a ready frame, still mirrored
    assert flipped[360, 10, 0] > flipped[360, 1270, 0]
    cam.selfie = False
    cam.push_frame(ndarray_to_frame(np.ascontiguousarray(np.repeat(grad, 10, axis=1)[:, :1280][:72].repeat(10, axis=0))))
    plain = (await pump.next_frame()).to_ndarray(format="rgb24")
    assert plain[360, 10, 0] < plain[360, 1270, 0]
    pump.stop()
