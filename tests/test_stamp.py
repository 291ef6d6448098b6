import cv2
import numpy as np
import pytest

from decart_widgets.common.stamp import COUNTER_MODULO, read_stamp, stamp, stamp_rect


@pytest.mark.parametrize("size", [(720, 1280), (480, 640), (704, 1280), (240, 320)])
@pytest.mark.parametrize("counter", [0, 1, 4095, 123456, COUNTER_MODULO - 1])
def test_round_trip(size, counter):
    frame = np.random.default_rng(counter).integers(0, 256, (*size, 3), dtype=np.uint8)
    assert read_stamp(stamp(frame, counter)) == counter


def test_survives_jpeg_and_luma_only():
    frame = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    stamp(frame, 777)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert read_stamp(cv2.imdecode(buf, cv2.IMREAD_COLOR)) == 777
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    assert read_stamp(luma) == 777


def test_no_false_positives_on_natural_frames():
    rng = np.random.default_rng(3)
    for _ in range(50):
        frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        assert read_stamp(frame) is None
    assert read_stamp(np.zeros((480, 640, 3), np.uint8)) is None
    assert read_stamp(np.full((480, 640, 3), 255, np.uint8)) is None


def test_corrupted_stamp_is_rejected():
    frame = stamp(np.zeros((480, 640, 3), np.uint8), 1000)
    w, h = stamp_rect(640, 480)
    bw = w // 34
    frame[:, 5 * bw : 6 * bw] = 255 - frame[:, 5 * bw : 6 * bw]  # flip one data bit
    assert read_stamp(frame) is None
