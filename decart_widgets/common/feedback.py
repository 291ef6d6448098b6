"""Loss feedback that does not feed an overload.

When several sessions share two cores, an aiortc peer's event loop falls
behind, its UDP socket overflows and packets are lost. aiortc's receiver
then asks again, in every NACK, for every packet still missing (so the
sender retransmits the same packets over and over, into the same overflowing
socket), and sends a picture-loss request (PLI) on each failed decode (so the
sender encodes keyframes, the costliest frames, back to back). Measured with
four 720p30 sessions against the local server: 33 NACKs asking for 3,191
packets and 28 PLIs in 8 s, and output stalls of seconds.

Installed process-wide on import (``decart_widgets.common.rtc`` imports it):

- NACK: each missing packet is asked for at most :data:`NACK_TRIES` times,
  at most :data:`NACK_MAX_PACKETS` per message; a gap too large to repair
  that way is left to a keyframe request.
- PLI: at most one per :data:`PLI_INTERVAL` per receiver.
"""

from __future__ import annotations

import time
from typing import Any

import aiortc.rtcrtpreceiver
from aiortc.rtcrtpreceiver import RTCRtpReceiver

__all__ = ["NACK_MAX_PACKETS", "NACK_TRIES", "PLI_INTERVAL"]

#: Packets one NACK may ask for (a larger gap is repaired by a keyframe).
NACK_MAX_PACKETS = 64
#: Times one missing packet is asked for.
NACK_TRIES = 2
#: Seconds between two picture-loss requests of one receiver.
PLI_INTERVAL = 0.5

_original_nack = RTCRtpReceiver._send_rtcp_nack
_original_pli = RTCRtpReceiver._send_rtcp_pli


async def _send_rtcp_nack(self: Any, media_ssrc: int, lost: list[int]) -> None:
    asked: dict[int, int] = self.__dict__.setdefault("_decart_nack_counts", {})
    wanted = [seq for seq in lost if asked.get(seq, 0) < NACK_TRIES]
    if not wanted or len(wanted) > NACK_MAX_PACKETS:
        return
    for seq in wanted:
        asked[seq] = asked.get(seq, 0) + 1
    if len(asked) > 4 * NACK_MAX_PACKETS:  # forget the packets asked for longest ago
        for seq in list(asked)[: len(asked) - 2 * NACK_MAX_PACKETS]:
            del asked[seq]
    await _original_nack(self, media_ssrc, wanted)


async def _send_rtcp_pli(self: Any, media_ssrc: int) -> None:
    now = time.monotonic()
    if now - self.__dict__.get("_decart_last_pli", -PLI_INTERVAL) < PLI_INTERVAL:
        return
    self._decart_last_pli = now
    await _original_pli(self, media_ssrc)


aiortc.rtcrtpreceiver.RTCRtpReceiver._send_rtcp_nack = _send_rtcp_nack  # type: ignore[method-assign]
aiortc.rtcrtpreceiver.RTCRtpReceiver._send_rtcp_pli = _send_rtcp_pli  # type: ignore[method-assign]
