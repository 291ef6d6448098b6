"""The legacy generation's media link: one aiortc peer connection,
negotiated with ``offer``/``answer``/``ice-candidate`` on the control socket
(docs/protocol.md section 4). aiortc encodes and decodes in this process.

Encoded frames pass through where nothing needs their pixels: the pump's
track sends a browser camera's frames as they arrived (``PumpTrack``), and
an :class:`~decart_widgets.media.encoded.EncodedTap` on the output
receiver hands the model's encoded frames to the session's
``encoded_output`` (the widget's views forward them), decoding only while
the session needs pixels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from .. import protocol as P
from ..common.bitrate import vp8_bitrate
from ..common.rtc import loopback_ice, new_peer_connection, prefer_codec
from ..errors import IceError, InvalidInputError, SignalingError
from ..media.encoded import EncodedTap
from ..signaling import SignalingChannel
from ._link import LinkPeers, LinkSettings, MediaLink
from ._stats import TransportSample
from ._types import SessionInfo

log = logging.getLogger(__name__)

__all__ = ["WebRtcLink"]

_MIME = {"vp8": "video/VP8", "h264": "video/H264"}


class WebRtcLink(MediaLink):
    kind = "webrtc"

    def __init__(self, settings: LinkSettings, peers: LinkPeers, channel: SignalingChannel | None) -> None:
        super().__init__(settings, peers, channel)
        if channel is None:
            raise ValueError("the webrtc link negotiates on a control socket")
        self._channel = channel
        codec = settings.codec or "vp8"
        if codec not in _MIME:
            raise InvalidInputError(f"media='webrtc' (aiortc) publishes 'vp8' or 'h264', not {codec!r}; use media='livekit' for VP9")
        self._mime = _MIME[codec]
        self.pc = new_peer_connection()
        loop = self.lost.get_loop()
        self._answer = loop.create_future()
        self._connected = loop.create_future()
        self._pending_candidates: list[P.CandidateDict] = []
        self._remote_set = False
        self._closed = False
        self._output_tap: EncodedTap | None = None
        self.pc.on("connectionstatechange", self._on_pc_state)
        self.pc.on("track", self._on_track)

    async def start(self) -> None:
        upstream = self.peers.upstream
        if upstream is not None:
            track = upstream.track()
            transceiver = self.pc.addTransceiver(track, direction="sendrecv")
            track.bind(transceiver)
        else:
            transceiver = self.pc.addTransceiver("video", direction="recvonly")
        prefer_codec(transceiver, self._mime)
        with loopback_ice(self.settings.loopback):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._channel.send(P.Offer(self.pc.localDescription.sdp))
        # aiortc gathers every candidate before the offer exists, so they all
        # ride in the SDP; tell the server there are no more to trickle.
        await self._channel.send(P.IceCandidate(None))
        answer: P.Answer = await self._answer
        # the sender starts here; its encoder takes the pinned bitrate
        with vp8_bitrate(self.settings.bitrate):
            await self.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        self._remote_set = True
        for cand in self._pending_candidates:
            await self._add_candidate(cand)
        self._pending_candidates.clear()
        await self._connected

    def handle(self, msg: P.Message) -> bool:
        if isinstance(msg, P.Answer):
            if not self._answer.done():
                self._answer.set_result(msg)
        elif isinstance(msg, P.IceCandidate):
            if msg.is_end:
                return True
            assert msg.candidate is not None
            if self._remote_set:
                self.spawn(self._add_candidate(msg.candidate), "decart-ice-candidate")
            else:
                self._pending_candidates.append(msg.candidate)
        elif isinstance(msg, P.SessionId):
            watch = {"sid": msg.session_id, "ip": msg.server_ip, "port": msg.server_port}
            self.peers.report("session_info", SessionInfo(msg.session_id, watch))
        elif isinstance(msg, P.Offer):
            self.spawn(self._renegotiate(msg), "decart-renegotiate")
        elif isinstance(msg, P.IceRestart):
            self.mark_lost(SignalingError("server asked for an ICE restart"))
        else:
            return False
        return True

    async def sample(self) -> TransportSample | None:
        return _sample(await self.pc.getStats())

    def media_received(self) -> int | None:
        # aiortc counts every RTP packet per source as it arrives (its RTCP statistics)
        total = 0
        for receiver in self.pc.getReceivers():
            streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", None)
            if streams is None:
                return None
            total += sum(s.packets_received for s in streams.values())
        return total

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.mark_lost(None)
        if self._output_tap is not None and self.peers.output_feed is not None:
            self.peers.output_feed.detach(self._output_tap)
        await self.cancel_tasks()
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - closing regardless; say so
            log.warning("closing the peer connection failed", exc_info=True)

    # -- events ------------------------------------------------------------

    def _on_pc_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self._connected.done():
            self._connected.set_result(None)
        elif state in ("failed", "closed") and not self._closed:
            self.mark_lost(IceError(f"peer connection {state}"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video":
            return
        deliver = self.peers.deliver
        feed, decoded = self.peers.output_feed, self.peers.deliver_decoded
        receiver = next((t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        if feed is not None and decoded is not None and receiver is not None and self._output_tap is None:
            # frames are counted as they arrive; decoded only while wanted
            tap = self._output_tap = EncodedTap(receiver)
            arrived = self.peers.arrived
            tap.add_consumer(lambda frame: arrived(frame.timestamp))
            feed.attach(tap)
            deliver = decoded
        self.spawn(self._consume(track, deliver), "decart-output-reader")

    async def _consume(self, track: MediaStreamTrack, deliver: Callable[[av.VideoFrame], None]) -> None:
        try:
            while True:
                deliver(cast(av.VideoFrame, await track.recv()))
        except MediaStreamError:
            pass  # the track ended with its connection

    async def _renegotiate(self, offer: P.Offer) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            with loopback_ice(self.settings.loopback):
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self._channel.send(P.Answer(self.pc.localDescription.sdp))
        except Exception as exc:  # noqa: BLE001 - the session reconnects instead
            log.warning("server renegotiation failed: %s", exc)
            self.mark_lost(SignalingError(f"server renegotiation failed: {exc}"))

    async def _add_candidate(self, cand: P.CandidateDict) -> None:
        text = cand.get("candidate") or ""
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        try:
            candidate = candidate_from_sdp(text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:  # noqa: BLE001 - a bad candidate is not fatal
            log.warning("ignoring ICE candidate %.80r: %s", text, exc)


def _sample(report: Any) -> TransportSample:
    sent = received = lost = got = 0
    rtt = None
    for stat in report.values():
        kind = getattr(stat, "type", "")
        if kind == "outbound-rtp" and getattr(stat, "kind", "video") == "video":
            sent += int(getattr(stat, "bytesSent", 0) or 0)
        elif kind == "transport":
            # aiortc's inbound-rtp has no byte count: use the transport's
            received += int(getattr(stat, "bytesReceived", 0) or 0)
        elif kind == "inbound-rtp" and getattr(stat, "kind", "video") == "video":
            lost += max(0, int(getattr(stat, "packetsLost", 0) or 0))
            got += int(getattr(stat, "packetsReceived", 0) or 0)
        elif kind == "remote-inbound-rtp":
            value = getattr(stat, "roundTripTime", None)
            if value is not None:
                rtt = float(value) * 1000
    return TransportSample(sent, received, lost, got, rtt)
