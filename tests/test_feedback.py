"""Loss feedback under overload: each missing packet NACKed at most twice,
large gaps left to a keyframe, at most one PLI per interval per receiver."""

from __future__ import annotations

from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_PLI, RTCP_RTPFB_NACK

from decart_widgets.common import feedback


class FakeReceiver:
    """What RTCRtpReceiver's RTCP senders touch: its RTCP ssrc and _send_rtcp."""

    def __init__(self):
        self._RTCRtpReceiver__rtcp_ssrc = 1234
        self.sent = []

    async def _send_rtcp(self, packet):
        self.sent.append(packet)


def test_the_guards_are_installed():
    assert RTCRtpReceiver._send_rtcp_nack is feedback._send_rtcp_nack
    assert RTCRtpReceiver._send_rtcp_pli is feedback._send_rtcp_pli


async def test_a_missing_packet_is_asked_for_at_most_twice():
    r = FakeReceiver()
    for _ in range(4):
        await RTCRtpReceiver._send_rtcp_nack(r, 99, [10, 11])
    await RTCRtpReceiver._send_rtcp_nack(r, 99, [10, 11, 12])
    lists = [p.lost for p in r.sent]
    assert all(p.fmt == RTCP_RTPFB_NACK and p.media_ssrc == 99 for p in r.sent)
    assert lists == [[10, 11], [10, 11], [12]]


async def test_a_gap_too_large_for_nacks_is_not_nacked():
    r = FakeReceiver()
    await RTCRtpReceiver._send_rtcp_nack(r, 99, list(range(feedback.NACK_MAX_PACKETS + 1)))
    assert r.sent == []
    await RTCRtpReceiver._send_rtcp_nack(r, 99, list(range(feedback.NACK_MAX_PACKETS)))
    assert len(r.sent) == 1


async def test_picture_loss_requests_are_spaced(monkeypatch):
    r = FakeReceiver()
    now = [100.0]
    monkeypatch.setattr(feedback.time, "monotonic", lambda: now[0])
    for _ in range(5):
        await RTCRtpReceiver._send_rtcp_pli(r, 7)
    now[0] += feedback.PLI_INTERVAL
    await RTCRtpReceiver._send_rtcp_pli(r, 7)
    assert [p.fmt for p in r.sent] == [RTCP_PSFB_PLI, RTCP_PSFB_PLI]
    other = FakeReceiver()  # per receiver, not process-wide
    await RTCRtpReceiver._send_rtcp_pli(other, 8)
    assert len(other.sent) == 1
