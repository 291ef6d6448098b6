"""The SDP and candidate helpers client, widget and server share."""

from __future__ import annotations

import pytest

from decart_widgets.common.rtc import parse_candidate, set_vp8_bitrate_hints, with_bitrate_hints

SDP = "\r\n".join([
    "v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 H264/90000", "a=fmtp:97 packetization-mode=1",
    "a=rtpmap:98 rtx/90000", "a=fmtp:98 apt=96",
]) + "\r\n"


def test_vp8_gets_the_hints_and_nothing_else_does():
    out = set_vp8_bitrate_hints(SDP, start_kbps=1, min_kbps=2, max_kbps=3).splitlines()
    assert "a=fmtp:96 x-google-start-bitrate=1;x-google-min-bitrate=2;x-google-max-bitrate=3" in out
    assert "a=fmtp:97 packetization-mode=1" in out and "a=fmtp:98 apt=96" in out


def test_hints_replace_old_ones_and_keep_other_parameters():
    lines = with_bitrate_hints(set_vp8_bitrate_hints(SDP).splitlines(), ("vp8", "h264"), (10, 20, 30))
    assert sum("x-google-start-bitrate" in line for line in lines) == 2
    assert "a=fmtp:97 packetization-mode=1;x-google-start-bitrate=10;x-google-min-bitrate=20;x-google-max-bitrate=30" in lines
    assert not any("=2500" in line for line in lines)


def test_candidates_parse_with_or_without_prefix_and_default_to_the_first_line():
    ice = parse_candidate({"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"})
    assert (ice.ip, ice.port, ice.sdpMLineIndex) == ("10.0.0.1", 5000, 0)
    ice = parse_candidate({"candidate": "1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdpMid": "1"})
    assert ice.sdpMid == "1" and ice.sdpMLineIndex is None
    with pytest.raises(ValueError, match="unreadable ICE candidate"):
        parse_candidate({"candidate": "garbage"})
