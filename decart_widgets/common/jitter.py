"""Release a video frame from aiortc's jitter buffer as soon as it is complete.

aiortc hands a video frame to the decoder only when the first packet of the
*next* frame arrives, which adds about one frame interval (33 ms at 30 fps)
to every hop it receives (bench/README.md). The RTP marker bit flags
the last packet of a frame (RFC 7741 for VP8, RFC 6184 for H.264), so a
contiguous run of packets from the buffer's origin that ends in a marker is
a whole frame: release it then. Reordered packets still wait for the gap to
fill, exactly as before. ``ENABLED`` switches it off for A/B benchmarks.

Padding-only packets (no payload) are dropped when they reach the front of
the buffer, in both modes. libwebrtc probes bandwidth with them on the media
SSRC when no RTX is negotiated (LiveKit clients publish so); aiortc would
otherwise hand their empty "frame" to the decoder, and an empty packet puts
FFmpeg's decoder into draining mode: every later frame fails with EOF.
"""

from __future__ import annotations

import aiortc.rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

__all__ = ["MarkerJitterBuffer", "ENABLED"]

#: Module switch so a benchmark can compare both behaviours in one process.
ENABLED = True


class MarkerJitterBuffer(JitterBuffer):
    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if self._origin is not None:
            for _ in range(self._capacity):
                packet = self._packets[self._origin % self._capacity]
                if packet is None or packet._data:  # type: ignore[attr-defined]
                    break
                self.remove(1)
        if ENABLED and self._is_video and self._prefetch == 0 and self._origin is not None:
            packets = []
            timestamp = None
            for count in range(self._capacity):
                packet = self._packets[(self._origin + count) % self._capacity]
                if packet is None or (timestamp is not None and packet.timestamp != timestamp):
                    break
                timestamp = packet.timestamp
                packets.append(packet)
                if packet.marker:
                    self.remove(count + 1)
                    return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[attr-defined]
        return super()._remove_frame(sequence_number)


aiortc.rtcrtpreceiver.JitterBuffer = MarkerJitterBuffer  # type: ignore[misc]
