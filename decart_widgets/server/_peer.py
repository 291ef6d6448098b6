"""The server side of one WebRTC peer connection: answer the client's offer
with an outgoing track, apply trickled candidates.

- No STUN; when the server is bound to loopback only 127.0.0.1 candidates
  are gathered (:func:`decart_widgets.common.rtc.loopback_ice`).
- The answer carries every server candidate (aiortc's setLocalDescription
  waits for gathering), VP8 first, and Chromium's bitrate hints raised.
- Candidates that arrive before the remote description (or before the
  answer) are queued, then applied; a null / empty candidate ends them.
- A new offer replaces the peer connection (renegotiation by replacement).
- Blocked (``Faults.block_media``, :mod:`._blackhole`): the peer connection
  gets no client candidates and advertises only the blackhole's port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCIceCandidate, RTCPeerConnection, RTCSessionDescription

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from ..common.rtc import (
    loopback_ice,
    new_peer_connection,
    parse_candidate,
    prefer_codec,
    set_vp8_bitrate_hints,
)
from ._blackhole import Blackhole, without_candidates

#: VP8 bitrate of the output the server sends (bits/s).
OUTPUT_BITRATE = DEFAULT_UPSTREAM_BITRATE

__all__ = ["ServerPeer"]

log = logging.getLogger(__name__)

_END = object()  # queued end-of-candidates


def parse_trickled(candidate: dict[str, Any]) -> RTCIceCandidate | None:
    """A trickled candidate for aiortc (:func:`~decart_widgets.common.rtc.parse_candidate`),
    or None for a browser's mDNS candidate (see :func:`is_mdns_candidate`).
    Raises ValueError when unreadable."""
    ice = parse_candidate(candidate)
    if ice.ip.lower().endswith(".local"):
        log.debug("skipping an mDNS candidate: the browser's checks will reveal its address")
        return None
    return ice


def is_mdns_candidate(text: str) -> bool:
    """A browser's ``<uuid>.local`` host candidate. aioice would try to resolve
    it over multicast DNS first (a stall of a second or more, often failing);
    the browser's own checks reach the server anyway and are answered, so the
    server learns that address as peer-reflexive: such candidates are skipped."""
    parts = text.split()
    return len(parts) > 4 and parts[4].lower().endswith(".local")


def without_mdns_candidates(sdp: str) -> str:
    """``sdp`` without the ``a=candidate`` lines :func:`is_mdns_candidate` skips
    (aiortc resolves those while applying a description: a 1 s stall each)."""
    lines = [line for line in sdp.splitlines()
             if not (line.startswith("a=candidate:") and is_mdns_candidate(line[len("a=candidate:"):]))]
    return "\r\n".join(lines) + "\r\n"


class ServerPeer:
    def __init__(
        self,
        *,
        loopback: bool,
        registry: set[RTCPeerConnection],
        on_track: Callable[[MediaStreamTrack], None] | None = None,
        on_failed: Callable[[], None] | None = None,
    ) -> None:
        self._loopback = loopback
        self._registry = registry
        self._on_track = on_track
        self._on_failed = on_failed
        self.pc: RTCPeerConnection | None = None
        self._outgoing: MediaStreamTrack | None = None
        self._answered = False
        self._queued: list[Any] = []
        self._blackhole: Blackhole | None = None

    async def answer(self, offer_sdp: str, outgoing: MediaStreamTrack | None, *,
                     blackhole: Blackhole | None = None) -> str:
        """Answer ``offer_sdp``, sending ``outgoing`` on the first video m-line;
        with ``blackhole`` the media never connects."""
        await self.close()
        self._blackhole = blackhole
        offer_sdp = without_candidates(offer_sdp) if blackhole is not None else without_mdns_candidates(offer_sdp)
        pc = new_peer_connection()
        self._registry.add(pc)
        self.pc, self._outgoing, self._answered = pc, outgoing, False

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if self._on_track is not None:
                self._on_track(track)

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState == "failed" and pc is self.pc and self._on_failed is not None:
                self._on_failed()

        if outgoing is not None:
            # created before the offer is applied, so it takes the offer's first
            # video m-line: sendrecv for a sending client, sendonly for recvonly
            prefer_codec(pc.addTransceiver(outgoing, direction="sendrecv"))
        try:
            # the output sender starts in here: a pinned, fast VP8 encoder
            # (aiortc's 0.5-1.5 Mbps and cpu-used -6 cost quality and CPU)
            with loopback_ice(self._loopback), vp8_bitrate(OUTPUT_BITRATE):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self.close()
            raise
        self._answered = True
        queued, self._queued = self._queued, []
        for item in queued:
            await self._apply(None if item is _END else item)
        answer = set_vp8_bitrate_hints(pc.localDescription.sdp)
        return blackhole.rewrite(answer) if blackhole is not None else answer

    async def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        """A trickled candidate (JS style dict) or None / empty = end of candidates."""
        end = candidate is None or not candidate.get("candidate")
        if self.pc is None or not self._answered:
            self._queued.append(_END if end else candidate)
            return
        await self._apply(None if end else candidate)

    async def _apply(self, candidate: dict[str, Any] | None) -> None:
        pc = self.pc
        if pc is None or pc.connectionState == "closed" or self._blackhole is not None:
            return
        try:
            if candidate is None:
                await pc.addIceCandidate(None)
                return
            ice = parse_trickled(candidate)
            if ice is not None:
                await pc.addIceCandidate(ice)
        except Exception as exc:  # noqa: BLE001 - a bad candidate must not end the stream
            log.warning("ignoring ICE candidate the peer connection refused: %s: %s", type(exc).__name__, exc)

    async def handle_answer(self, answer_sdp: str) -> None:
        """An ``answer`` to a server-sent offer (the server sends none today)."""
        pc = self.pc
        if pc is None or pc.signalingState != "have-local-offer":
            log.info("ignoring an answer with no server offer pending")
            return
        with loopback_ice(self._loopback):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=without_mdns_candidates(answer_sdp), type="answer"))

    async def close(self) -> None:
        pc, outgoing = self.pc, self._outgoing
        self.pc, self._outgoing, self._answered = None, None, False
        if outgoing is not None:
            outgoing.stop()
        if pc is not None:
            try:
                await pc.close()
            finally:
                self._registry.discard(pc)
