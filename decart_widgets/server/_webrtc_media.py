"""Legacy media transport: the client's aiortc/browser peer connection,
signaled with ``offer``/``answer``/``ice-candidate`` on the control socket
(docs/protocol.md sections 2-4)."""

from __future__ import annotations

import logging

from aiortc import MediaStreamTrack

from .. import protocol
from ._media import MediaTransport, StreamMedia
from ._peer import ServerPeer

__all__ = ["WebRTCMedia"]

log = logging.getLogger(__name__)


class WebRTCMedia(MediaTransport):
    generation = "webrtc"

    def __init__(self, stream: StreamMedia) -> None:
        super().__init__(stream)
        self.peer = ServerPeer(loopback=stream.server.loopback, registry=stream.server.peer_connections,
                               on_track=self._on_track, on_failed=self._on_failed)

    def accepts(self, msg: protocol.Message) -> bool:
        return isinstance(msg, (protocol.Offer, protocol.Answer, protocol.IceCandidate))

    def starts_session(self, msg: protocol.Message) -> bool:
        return isinstance(msg, protocol.Offer)

    async def handle(self, msg: protocol.Message) -> None:
        if isinstance(msg, protocol.Offer):
            await self._on_offer(msg.sdp)
        elif isinstance(msg, protocol.IceCandidate):
            await self.peer.add_candidate(msg.candidate)
        elif isinstance(msg, protocol.Answer):
            await self.peer.handle_answer(msg.sdp)

    async def _on_offer(self, sdp: str) -> None:
        stream = self.stream
        blackhole = stream.server.blackhole if stream.media_blocked() else None
        try:
            answer = await self.peer.answer(sdp, stream.media_output(), blackhole=blackhole)
        except Exception as exc:  # noqa: BLE001
            log.warning("session %s: could not answer the offer: %s", stream.session_id, exc)
            await stream.send(protocol.Error(f"Signaling error: could not answer the offer ({exc})"))
            return
        await stream.send(protocol.Answer(answer))
        await stream.send(protocol.SessionId(stream.session_id, stream.server.host, stream.server.port))
        stream.media_live()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.stream.media_input(track)

    def _on_failed(self) -> None:
        self.stream.media_failed("peer connection failed")

    async def close(self, *, abrupt: bool = False) -> None:
        await self.peer.close()
