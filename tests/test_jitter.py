"""The marker-bit jitter buffer releases complete frames at once, and still
waits for gaps."""

from aiortc.rtp import RtpPacket

from decart_widgets.common import jitter as _jitter
from decart_widgets.common.jitter import MarkerJitterBuffer


def pkt(seq, ts, marker=False, data=b""):
    p = RtpPacket(sequence_number=seq, timestamp=ts, marker=marker)
    p._data = data or bytes([seq % 256])
    return p


def test_frame_released_on_its_last_packet():
    jb = MarkerJitterBuffer(capacity=128, is_video=True)
    assert jb.add(pkt(10, 1000))[1] is None
    assert jb.add(pkt(11, 1000))[1] is None
    frame = jb.add(pkt(12, 1000, marker=True, data=b"end"))[1]
    assert frame is not None and frame.timestamp == 1000
    assert frame.data == bytes([10, 11]) + b"end"
    # the next frame starts clean
    assert jb.add(pkt(13, 4000, marker=True, data=b"x"))[1].data == b"x"


def test_reordered_packets_wait_for_the_gap():
    jb = MarkerJitterBuffer(capacity=128, is_video=True)
    jb.add(pkt(20, 1000))
    assert jb.add(pkt(22, 1000, marker=True))[1] is None  # 21 missing
    frame = jb.add(pkt(21, 1000))[1]
    assert frame is not None and frame.data == bytes([20, 21, 22])


def test_switch_off_restores_aiortc_behaviour():
    _jitter.ENABLED = False
    try:
        jb = MarkerJitterBuffer(capacity=128, is_video=True)
        assert jb.add(pkt(1, 1000, marker=True))[1] is None  # waits for the next frame
        assert jb.add(pkt(2, 4000))[1].timestamp == 1000
    finally:
        _jitter.ENABLED = True


def test_audio_buffers_are_untouched():
    jb = MarkerJitterBuffer(capacity=16, prefetch=4)
    assert jb.add(pkt(1, 1000, marker=True))[1] is None


def _padding(seq, ts):
    p = RtpPacket(sequence_number=seq, timestamp=ts)
    p._data = b""  # what aiortc's receiver stores for a packet with no payload
    return p


def test_padding_only_packets_never_make_an_empty_frame():
    # libwebrtc without RTX probes with padding on the media SSRC, stamped with
    # the previous frame's timestamp; an empty frame would drain the decoder
    for enabled in (True, False):
        _jitter.ENABLED = enabled
        try:
            jb = MarkerJitterBuffer(capacity=128, is_video=True)
            frames = [jb.add(pkt(100, 1000, marker=True, data=b"key"))[1]]
            frames += [jb.add(_padding(seq, 1000))[1] for seq in range(101, 121)]
            frames += [jb.add(pkt(121, 4000, marker=True, data=b"d1"))[1]]
            frames += [jb.add(pkt(122, 7000, marker=True, data=b"d2"))[1]]
            released = [f for f in frames if f is not None]
            assert all(f.data for f in released)
            assert [f.timestamp for f in released] == ([1000, 4000, 7000] if enabled else [1000, 4000])
        finally:
            _jitter.ENABLED = True
