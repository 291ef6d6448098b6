"""A session's statistics: frame rates and latency from the frame path,
bitrates, RTT and loss from the media link's transport counters, and the
quality verdict (``media.stats.quality_verdict``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..media.output import OutputSink
from ..media.stats import quality_verdict

if TYPE_CHECKING:
    from ..media.forwarding import EncodedFeed
    from ..media.frames import FrameHub
    from ..media.track import FramePump
    from ._supervisor import LinkSupervisor

log = logging.getLogger(__name__)

__all__ = ["TransportSample", "RateMeter", "SessionStats", "STATS_INTERVAL"]

#: Seconds between ``stats`` events.
STATS_INTERVAL = 1.0


@dataclass(frozen=True)
class TransportSample:
    """Cumulative counters of one media link (both links report these)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    packets_lost: int = 0
    packets_received: int = 0
    rtt_ms: float | None = None


class RateMeter:
    """Turns cumulative counters into rates. A reconnect starts a new link
    whose counters start again at zero: never a negative rate."""

    def __init__(self) -> None:
        self._last: tuple[float, TransportSample] | None = None
        self.bitrate_up: float | None = None
        self.bitrate_down: float | None = None
        self.rtt_ms: float | None = None
        self.packet_loss_pct: float | None = None

    def update(self, sample: TransportSample, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last is not None:
            t0, prev = self._last
            dt = now - t0
            if dt > 0:
                up = sample.bytes_sent - prev.bytes_sent
                down = sample.bytes_received - prev.bytes_received
                self.bitrate_up = up * 8 / dt if up >= 0 else None
                self.bitrate_down = down * 8 / dt if down >= 0 else None
        self._last = (now, sample)
        if sample.rtt_ms is not None:
            self.rtt_ms = sample.rtt_ms
        total = sample.packets_lost + sample.packets_received
        self.packet_loss_pct = (100.0 * sample.packets_lost / total) if total else None

    def reset(self) -> None:
        self._last = None


class SessionStats:
    def __init__(
        self,
        *,
        sink: OutputSink,
        pump: FramePump | None,
        hub: FrameHub,
        supervisor: LinkSupervisor,
        started_at: float,
        encoded_output: EncodedFeed | None = None,
    ) -> None:
        self._sink, self._pump, self._hub = sink, pump, hub
        self._encoded_output = encoded_output
        self._supervisor = supervisor
        self._started_at = started_at
        self._rates = RateMeter()
        self._sampled_link: object = None

    async def run(self, emit: Callable[[dict[str, Any]], None], sample: Callable[[], Awaitable[TransportSample | None]]) -> None:
        """Every :data:`STATS_INTERVAL`: sample the link, emit ``stats``."""
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            link = self._supervisor.current_link()
            if link is not None and link is not self._sampled_link:
                self._rates.reset()
                self._sampled_link = link
            try:
                counters = await sample()
            except Exception:  # noqa: BLE001 - stats are best effort; the frame path goes on
                log.debug("transport stats failed", exc_info=True)
                counters = None
            if counters is not None:
                self._rates.update(counters)
            emit(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        out = self._sink
        sup = self._supervisor
        ttff = None if out.first_frame_at is None else out.first_frame_at - self._started_at
        lat = sorted(out.latencies)
        p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else None
        fps_out = round(out.fps(), 2)
        rates = self._rates
        return {
            "state": sup.state.value,
            "media": sup.media,
            "fps_in": round(self._pump.fps_sent(), 2) if self._pump is not None else 0.0,
            "fps_out": fps_out,
            "frames_sent": self._pump.frames_sent if self._pump is not None else 0,
            "frames_received": out.frames_received,
            # forwarded: sent on as they arrived, never decoded or encoded here
            "frames_forwarded_up": self._pump.frames_forwarded if self._pump is not None else 0,
            "frames_forwarded_down": self._encoded_output.forwarded if self._encoded_output is not None else 0,
            "frames_decoded_out": out.frames_decoded,
            "frames_skipped_by_taps": self._hub.skipped,
            "bitrate_up": rates.bitrate_up,
            "bitrate_down": rates.bitrate_down,
            "rtt_ms": rates.rtt_ms,
            "packet_loss_pct": rates.packet_loss_pct,
            "latency_ms": out.latency_ms(),
            "latency_p95_ms": p95,
            "connect_time_s": sup.connect_time_s,
            "time_to_first_frame_s": ttff,
            "generation_seconds": sup.generation_seconds,
            "reconnects": sup.reconnects,
            "quality": quality_verdict(
                rtt_ms=rates.rtt_ms,
                fps=fps_out if out.frames_received else None,
                packet_loss_pct=rates.packet_loss_pct,
                ttff_s=ttff,
            ),
        }
