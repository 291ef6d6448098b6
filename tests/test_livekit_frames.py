"""Frames between the pump, PyAV and the livekit rtc client: I420 both ways,
no RGB round trip, pixels and stamps intact."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("livekit.rtc")

from livekit import rtc  # noqa: E402

from decart_widgets.common.stamp import read_stamp  # noqa: E402
from decart_widgets.common.yuv import ndarray_to_frame, rgb_to_i420  # noqa: E402
from decart_widgets.media.convert import frame_to_rgb  # noqa: E402
from decart_widgets.media.sources import TestPatternSource  # noqa: E402
from decart_widgets.media.track import FramePump  # noqa: E402
from decart_widgets.session._livekit_frames import from_livekit, to_livekit  # noqa: E402


def _pattern(index: int = 7) -> np.ndarray:
    src = TestPatternSource()
    src.configure(1280, 720, 30)
    return src.render(index)


async def test_the_pump_hands_out_packed_i420_without_a_pyav_frame():
    pump = FramePump(TestPatternSource(), 1280, 720, 30)
    try:
        planes, t = await pump.next_i420()
        assert isinstance(planes, np.ndarray) and planes.shape == (1080, 1280) and planes.dtype == np.uint8
        assert t == 0.0 and pump.frames_sent == 1
        assert read_stamp(planes[:720]) == 0  # the stamp survives in the Y plane
        assert pump.sent_time(0) is not None  # noted for latency, as next_frame() does
    finally:
        pump.stop()


def test_i420_array_to_livekit_and_back_keeps_the_pixels():
    rgb = _pattern()
    planes = rgb_to_i420(rgb)
    lk = to_livekit(planes)
    assert (lk.width, lk.height, lk.type) == (1280, 720, rtc.VideoBufferType.I420)
    assert bytes(lk.data) == planes.tobytes()
    back = from_livekit(lk, timestamp_us=1_000_000)
    assert back.format.name == "yuv420p" and (back.width, back.height) == (1280, 720)
    assert back.pts == 90_000 and float(back.time_base) == 1 / 90_000
    assert np.array_equal(back.to_ndarray(), planes)
    assert read_stamp(frame_to_rgb(back)) == 7


def test_pyav_frames_of_any_format_go_to_livekit_as_i420():
    frame = ndarray_to_frame(_pattern())
    assert np.array_equal(np.frombuffer(to_livekit(frame).data, np.uint8).reshape(1080, 1280), frame.to_ndarray())
    rgb_frame = frame.reformat(format="rgb24")
    lk = to_livekit(rgb_frame)
    assert lk.type == rtc.VideoBufferType.I420 and (lk.width, lk.height) == (1280, 720)


def test_a_received_rgba_frame_is_converted_too():
    rgba = np.zeros((720, 1280, 4), np.uint8)
    rgba[..., 0] = 200
    lk = rtc.VideoFrame(1280, 720, rtc.VideoBufferType.RGBA, rgba.reshape(-1).data)
    back = from_livekit(lk, timestamp_us=0)
    assert back.format.name == "yuv420p"
    assert abs(int(frame_to_rgb(back)[360, 640, 0]) - 200) < 8


def test_a_received_frame_of_odd_size_is_cropped_to_even():
    rgba = np.full((721, 1281, 4), 120, np.uint8)
    back = from_livekit(rtc.VideoFrame(1281, 721, rtc.VideoBufferType.RGBA, rgba.reshape(-1).data), timestamp_us=0)
    assert (back.width, back.height) == (1280, 720) and back.format.name == "yuv420p"
