"""Frames and stats between PyAV and the ``livekit`` rtc client, without an
RGB round trip: both sides speak I420 (yuv420p).

- upstream: the pump's yuv420p frame becomes one contiguous I420 buffer
  (``to_ndarray`` packs the three planes: one copy), which
  ``VideoSource.capture_frame`` hands to libwebrtc;
- downstream: a received I420 buffer is wrapped as an ndarray and copied
  into a yuv420p ``av.VideoFrame`` for the session's frame hub.
"""

from __future__ import annotations

import fractions
from typing import Any

import av
import numpy as np
from livekit import rtc

from ..media.convert import frame_copy_yuv
from ._stats import TransportSample

__all__ = ["to_livekit", "from_livekit", "sample_room_stats", "VIDEO_CLOCK_RATE"]

VIDEO_CLOCK_RATE = 90_000
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
_I420 = rtc.VideoBufferType.I420


def to_livekit(frame: np.ndarray | av.VideoFrame) -> rtc.VideoFrame:
    """A packed I420 array (``(h * 3 / 2, w)``, from :meth:`FramePump.next_i420`)
    or a PyAV frame of any format as a LiveKit I420 frame (even sizes)."""
    if isinstance(frame, np.ndarray):
        rows, width = frame.shape
        return rtc.VideoFrame(width, rows * 2 // 3, _I420, frame.reshape(-1).data)
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        frame = frame_copy_yuv(frame, frame.width - frame.width % 2, frame.height - frame.height % 2)
    packed: np.ndarray = frame.to_ndarray()  # (h * 3 / 2, w) uint8: Y, then U, then V, no padding
    # a flat view, so the rtc client takes its buffer as is (no further copy)
    return rtc.VideoFrame(frame.width, frame.height, _I420, packed.reshape(-1).data)


def from_livekit(frame: rtc.VideoFrame, timestamp_us: int) -> av.VideoFrame:
    """A received LiveKit frame as a yuv420p PyAV frame with a 90 kHz pts."""
    w, h = frame.width, frame.height
    if not (w % 2 or h % 2):
        if frame.type != _I420:
            frame = frame.convert(_I420)
        # the rtc frame's buffer is its own (a fresh copy per frame): wrap it, no copy
        planes = np.frombuffer(frame.data, np.uint8).reshape(h * 3 // 2, w)
        out = av.VideoFrame.from_numpy_buffer(planes, format="yuv420p")
    else:  # odd sizes have no packed yuv420p layout: through RGBA, cropped to even
        if frame.type != rtc.VideoBufferType.RGBA:
            frame = frame.convert(rtc.VideoBufferType.RGBA)
        rgba = np.frombuffer(frame.data, np.uint8).reshape(h, w, 4)
        out = frame_copy_yuv(av.VideoFrame.from_ndarray(rgba, format="rgba"), w - w % 2, h - h % 2)
    out.pts = timestamp_us * VIDEO_CLOCK_RATE // 1_000_000
    out.time_base = _TIME_BASE
    return out


def sample_room_stats(stats: Any) -> TransportSample:
    """Cumulative counters from ``Room.get_rtc_stats()`` (publisher and subscriber peer connections)."""
    sent = received = lost = got = 0
    rtt: float | None = None
    for side in (stats.publisher_stats, stats.subscriber_stats):
        for stat in side:
            which = stat.WhichOneof("stats")
            if which == "outbound_rtp" and stat.outbound_rtp.stream.kind == "video":
                sent += stat.outbound_rtp.sent.bytes_sent + stat.outbound_rtp.outbound.header_bytes_sent
            elif which == "inbound_rtp" and stat.inbound_rtp.stream.kind == "video":
                inbound = stat.inbound_rtp
                received += inbound.inbound.bytes_received + inbound.inbound.header_bytes_received
                lost += max(0, inbound.received.packets_lost)
                got += inbound.received.packets_received
            elif which == "remote_inbound_rtp" and stat.remote_inbound_rtp.remote_inbound.round_trip_time_measurements:
                rtt = stat.remote_inbound_rtp.remote_inbound.round_trip_time * 1000
            elif which == "candidate_pair" and rtt is None:
                pair = stat.candidate_pair.candidate_pair
                if pair.nominated and pair.current_round_trip_time:
                    rtt = pair.current_round_trip_time * 1000
    return TransportSample(sent, received, lost, got, rtt)
