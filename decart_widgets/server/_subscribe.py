"""A view-only subscriber of a running stream (``/subscribe/<session_id>``).

The subscriber offers recvonly video (and maybe audio); the answer sends the
stream's output through the stream's MediaRelay, so the main client keeps its
own copy. Prompts and images from a subscriber are ignored (recorded only).
The subscriber ends when its socket closes or when the stream ends.
"""

from __future__ import annotations

import json
import logging

from aiohttp import WSMsgType, web

from .. import protocol
from ._peer import ServerPeer
from ._sockets import close_socket
from ._stream import Stream

__all__ = ["Subscriber"]

log = logging.getLogger(__name__)


class Subscriber:
    def __init__(self, stream: Stream, ws: web.WebSocketResponse) -> None:
        self.stream = stream
        self.ws = ws
        self.peer = ServerPeer(loopback=stream.server.loopback, registry=stream.server.peer_connections)
        self._closed = False

    async def run(self) -> None:
        self.stream.subscribers.add(self)
        self.stream.server.events.append(self.stream.session_id, "subscriber_opened", source="server")
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type != WSMsgType.BINARY:
                    break
        finally:
            await self.close()

    async def _on_text(self, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            log.warning("subscriber of %s: dropping malformed JSON", self.stream.session_id)
            return
        msg = protocol.parse_obj(obj)
        kind = obj.get("type") if isinstance(obj, dict) else None
        self.stream.server.events.append(self.stream.session_id, str(kind)[:64], source="subscriber")
        try:
            if isinstance(msg, protocol.Offer):
                answer = await self.peer.answer(msg.sdp, self.stream.subscribe_output())
                await self._send(protocol.Answer(answer))
            elif isinstance(msg, protocol.IceCandidate):
                await self.peer.add_candidate(msg.candidate)
        except Exception as exc:  # noqa: BLE001 - never let one message end the subscriber
            log.warning("subscriber of %s: could not handle %s: %s", self.stream.session_id, msg, exc)
            await self._send(protocol.Error(f"Signaling error: {exc}"))

    async def _send(self, msg: protocol.Message) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_str(protocol.encode(msg))
            except (ConnectionError, RuntimeError):
                pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.subscribers.discard(self)
        await self.peer.close()
        await close_socket(self.ws)
        self.stream.server.events.append(self.stream.session_id, "subscriber_closed", source="server")
