"""The two peer connections of one LiveKit participant, server side.

- publisher: the client offers (data channels first, then its camera after
  ``add_track``), the server answers (:mod:`._publish_sdp` around aiortc);
- subscriber: the server offers the model's output, the client answers.

Trickled candidates are queued until their peer connection has its remote
description. The server's own candidates are all in its SDP (aiortc gathers
before it answers or offers). LiveKit clients skip loopback candidates, so
these peer connections gather on the machine's interfaces, not loopback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from ..common.bitrate import vp8_bitrate
from ..common.rtc import new_peer_connection, prefer_codec
from ._blackhole import Blackhole, without_candidates
from ._peer import OUTPUT_BITRATE, parse_trickled, without_mdns_candidates
from ._publish_sdp import finish_answer, prepare_offer

__all__ = ["ParticipantPeers", "PUBLISHER", "SUBSCRIBER"]

log = logging.getLogger(__name__)

PUBLISHER, SUBSCRIBER = 0, 1  # livekit SignalTarget


#: Trickled candidates kept per peer connection while it has no remote description.
MAX_QUEUED_CANDIDATES = 64


class _Side:
    """One peer connection; ``blocked`` by ``Faults.block_media`` when it was made."""

    def __init__(self, pc: RTCPeerConnection, blocked: bool) -> None:
        self.pc = pc
        self.blocked = blocked


class ParticipantPeers:
    def __init__(self, *, registry: set[RTCPeerConnection], blackhole: Blackhole,
                 on_track: Callable[[MediaStreamTrack], None],
                 on_failed: Callable[[str], None]) -> None:
        self._registry = registry
        self._blackhole = blackhole
        self._on_track = on_track
        self._on_failed = on_failed
        self._sides: dict[int, _Side] = {}
        self._queued: dict[int, list[dict[str, Any]]] = {PUBLISHER: [], SUBSCRIBER: []}
        self._closed = False

    def _new_side(self, target: int, blocked: bool) -> _Side:
        pc = new_peer_connection()
        self._registry.add(pc)
        side = self._sides[target] = _Side(pc, blocked)
        name = "publisher" if target == PUBLISHER else "subscriber"

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState == "failed" and self._sides.get(target) is side:
                self._on_failed(f"{name} peer connection failed")

        if target == PUBLISHER:
            @pc.on("track")
            def _on_track(track: MediaStreamTrack) -> None:
                self._on_track(track)
        return side

    def connected(self, target: int) -> bool:
        side = self._sides.get(target)
        return side is not None and side.pc.connectionState == "connected"

    # -- publisher: the client offers -----------------------------------
    async def answer_publisher(self, offer_sdp: str, codec_for: Callable[[str | None], str | None],
                               *, blocked: bool) -> str:
        if self._closed:
            raise RuntimeError("participant closed")
        fresh = PUBLISHER not in self._sides
        side = self._sides.get(PUBLISHER) or self._new_side(PUBLISHER, blocked)
        sdp, plan = prepare_offer(offer_sdp, codec_for)
        sdp = without_candidates(sdp) if side.blocked else without_mdns_candidates(sdp)
        try:
            await side.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await side.pc.setLocalDescription(await side.pc.createAnswer())
        except BaseException:
            if fresh:  # a first offer that failed leaves nothing behind; the next starts over
                self._sides.pop(PUBLISHER, None)
                self._registry.discard(side.pc)
                await side.pc.close()
            raise
        await self._flush(PUBLISHER)
        answer = finish_answer(side.pc.localDescription.sdp, plan)
        return self._blackhole.rewrite(answer) if side.blocked else answer

    def publisher_codecs(self) -> list[str]:
        """The codec each receiving video section of the publisher negotiated (first = used)."""
        side = self._sides.get(PUBLISHER)
        if side is None:
            return []
        return [t._codecs[0].mimeType for t in side.pc.getTransceivers()
                if t.kind == "video" and t.currentDirection in ("recvonly", "sendrecv") and t._codecs]

    # -- subscriber: the server offers ----------------------------------
    async def offer_subscriber(self, track: MediaStreamTrack, stream_id: str, track_id: str,
                               *, blocked: bool) -> str:
        if self._closed:
            raise RuntimeError("participant closed")
        if SUBSCRIBER in self._sides:
            raise RuntimeError("the subscriber peer connection is already offered")
        side = self._new_side(SUBSCRIBER, blocked)
        transceiver = side.pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver)
        # clients split the msid stream id on "|" into participant and track
        # sid; aiortc has no public way to set either id
        transceiver.sender._stream_id = stream_id
        transceiver.sender._track_id = track_id
        await side.pc.setLocalDescription(await side.pc.createOffer())
        offer = side.pc.localDescription.sdp
        return self._blackhole.rewrite(offer) if side.blocked else offer

    async def subscriber_answer(self, answer_sdp: str) -> None:
        side = self._sides.get(SUBSCRIBER)
        if side is None or side.pc.signalingState != "have-local-offer":
            log.info("ignoring a subscriber answer with no subscriber offer pending")
            return
        sdp = without_candidates(answer_sdp) if side.blocked else without_mdns_candidates(answer_sdp)
        # the output sender starts in here: a pinned, fast VP8 encoder
        with vp8_bitrate(OUTPUT_BITRATE):
            await side.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await self._flush(SUBSCRIBER)

    # -- candidates -----------------------------------------------------
    async def add_candidate(self, target: int, candidate_init: str) -> None:
        """A trickled ``candidateInit`` (JSON of ``{candidate, sdpMid, sdpMLineIndex}``)."""
        try:
            init = json.loads(candidate_init)
            if not isinstance(init, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            log.warning("ignoring a trickle candidate that is not JSON (%s): %.120r", exc, candidate_init)
            return
        side = self._sides.get(target)
        if side is None or side.pc.remoteDescription is None:
            queue = self._queued.get(target)
            if queue is None or len(queue) >= MAX_QUEUED_CANDIDATES:
                log.info("ignoring a trickle candidate for target %r (unknown target or queue full)", target)
                return
            queue.append(init)
            return
        await self._apply(side, init)

    async def _flush(self, target: int) -> None:
        side = self._sides.get(target)
        queued, self._queued[target] = self._queued[target], []
        for init in queued:
            if side is not None:
                await self._apply(side, init)

    async def _apply(self, side: _Side, init: dict[str, Any]) -> None:
        if side.blocked or side.pc.connectionState == "closed":
            return
        text = str(init.get("candidate") or "").strip()
        if not text:
            return  # end of candidates: aiortc needs no marker here
        try:
            ice = parse_trickled(init)
            if ice is not None:
                await side.pc.addIceCandidate(ice)
        except Exception as exc:  # noqa: BLE001 - a bad candidate must not end the participant
            log.warning("ignoring a trickle candidate the peer connection refused: %s: %s", type(exc).__name__, exc)

    async def close(self) -> None:
        """Idempotent."""
        self._closed = True
        sides, self._sides = list(self._sides.values()), {}
        for side in sides:
            try:
                await side.pc.close()
            finally:
                self._registry.discard(side.pc)
