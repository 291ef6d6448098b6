"""One participant's LiveKit signal connection (``/rtc``): binary protobuf,
``SignalRequest`` in, ``SignalResponse`` out (PyPI ``livekit-protocol``).

The flow the official clients use (docs/protocol.md, LiveKit generation):
join response first; the client's publisher offers (``subscriber_primary``
is false) and is answered; ``add_track`` gets ``track_published``; after the
first publisher answer the model's participant is announced (``update``)
and, for participants that subscribe, offered on a second peer connection;
``ping``/``ping_req`` are answered; ``leave`` ends it either way.

Every other request is logged once per kind and ignored. A text frame, or
bytes that are not a ``SignalRequest``, end the connection with a log line;
so do silence longer than the ping timeout and a publisher that never offers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from aiortc import MediaStreamTrack
from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from .._version import __version__
from ..common.tasks import TaskSet
from ._room_peers import PUBLISHER, SUBSCRIBER, ParticipantPeers
from ._rooms import new_sid
from ._sockets import close_socket
from ._tracks import drain

if TYPE_CHECKING:
    from ._room_tokens import RoomGrant
    from ._rooms import Room
    from ._state import ServerState

__all__ = ["SignalParticipant", "PING_INTERVAL", "PING_TIMEOUT"]

log = logging.getLogger(__name__)

PING_INTERVAL = 5  # seconds, sent in the join response (0 panics the Rust client)
PING_TIMEOUT = 15  # seconds, sent in the join response
#: Seconds without any message from the client before the server gives up on it.
IDLE_TIMEOUT = float(PING_TIMEOUT)
#: Seconds a participant has, after its join response, to send its first publisher offer.
NEGOTIATION_TIMEOUT = 20.0
_SERVER_VERSION = "1.9.0"
_MIME = {"vp8": "video/VP8", "h264": "video/H264", "vp9": "video/VP9", "av1": "video/AV1"}


def _now_ms() -> int:
    return int(time.time() * 1000)


class SignalParticipant:
    def __init__(self, state: ServerState, room: Room, grant: RoomGrant, ws: web.WebSocketResponse,
                 request: web.Request) -> None:
        self.state = state
        self._request = request
        self.room = room
        self.grant = grant
        self.identity = grant.identity
        self.ws = ws
        self.sid = new_sid("PA_")
        self.peers = ParticipantPeers(registry=state.peer_connections, blackhole=state.blackhole,
                                      on_track=self._on_track, on_failed=self._on_failed)
        self._send_lock = asyncio.Lock()
        self._tasks = TaskSet(f"room {room.name} participant {grant.identity}")
        self._codecs: dict[str, str] = {}  # track cid -> mime type asked for in add_track
        self._last_codec: str | None = None
        self._published: dict[str, models.TrackInfo] = {}
        self._offered = asyncio.Event()
        self._announced = False
        self._offer_id = 0
        self._unhandled: set[str] = set()
        self._closed = False
        self.joined_at = time.time()

    def _label(self) -> str:
        return f"room {self.room.name} participant {self.identity}"

    # -- running --------------------------------------------------------
    async def run(self) -> None:
        """Serve the signal socket until it closes (or the participant is closed)."""
        await self.room.admit(self)
        self.room.media.room_event("participant_joined", identity=self.identity, can_publish=self.grant.can_publish)
        self._spawn(self._negotiation_deadline())
        try:
            await self._send(rtc.SignalResponse(join=self._join_response()))
            while not self._closed:
                try:
                    msg = await self.ws.receive(timeout=IDLE_TIMEOUT)
                except asyncio.TimeoutError:
                    log.warning("%s: no signal message for %.0f s (client gone?); closing", self._label(), IDLE_TIMEOUT)
                    break
                if msg.type == WSMsgType.BINARY:
                    if not await self._on_bytes(msg.data):
                        break
                elif msg.type == WSMsgType.TEXT:
                    log.warning("%s: text frame on the LiveKit signal socket (binary protobuf SignalRequest "
                                "expected); closing: %.80r", self._label(), msg.data)
                    self.room.media.room_event("signal_bad_frame", identity=self.identity, kind="text")
                    break
                else:
                    break
        finally:
            await self.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro)

    async def _negotiation_deadline(self) -> None:
        try:
            await asyncio.wait_for(self._offered.wait(), NEGOTIATION_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("%s: no publisher offer within %.0f s of joining; closing", self._label(), NEGOTIATION_TIMEOUT)
            self.room.media.room_event("signal_timeout", identity=self.identity)
            await self.close(leave_reason=models.DisconnectReason.JOIN_FAILURE)

    def _join_response(self) -> rtc.JoinResponse:
        permission = models.ParticipantPermission(
            can_subscribe=self.grant.can_subscribe, can_publish=self.grant.can_publish,
            can_publish_data=self.grant.can_publish)
        me = models.ParticipantInfo(
            sid=self.sid, identity=self.identity, name=self.identity, state=models.ParticipantInfo.State.ACTIVE,
            joined_at=int(self.joined_at), joined_at_ms=int(self.joined_at * 1000), version=1,
            permission=permission, is_publisher=self.grant.can_publish)
        return rtc.JoinResponse(
            room=self.room.info(), participant=me, other_participants=[self.room.inference_info()],
            server_version=_SERVER_VERSION, subscriber_primary=False, ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            server_info=models.ServerInfo(edition=models.ServerInfo.Edition.Standard, version=_SERVER_VERSION,
                                          protocol=16, node_id=f"decart-widgets-{__version__}"),
        )

    async def _send(self, response: rtc.SignalResponse) -> bool:
        if self.ws.closed:
            return False
        try:
            async with self._send_lock:
                await self.ws.send_bytes(response.SerializeToString())
            return True
        except (ConnectionError, RuntimeError) as exc:
            log.debug("%s: could not send %s: %s", self._label(), response.WhichOneof("message"), exc)
            return False

    # -- requests -------------------------------------------------------
    async def _on_bytes(self, data: bytes) -> bool:
        """Handle one frame; False ends the connection."""
        request = rtc.SignalRequest()
        try:
            request.ParseFromString(data)
        except DecodeError as exc:
            log.warning("%s: %d bytes that are not a protobuf SignalRequest (%s); closing",
                        self._label(), len(data), exc)
            self.room.media.room_event("signal_bad_frame", identity=self.identity, kind="protobuf")
            return False
        kind = request.WhichOneof("message")
        handler = _HANDLERS.get(kind or "")
        if handler is None:
            if (kind or "empty") not in self._unhandled:
                self._unhandled.add(kind or "empty")
                log.info("%s: ignoring signal request %r (not needed by Decart's clients; logged once)",
                         self._label(), kind or "empty")
            return True
        try:
            await handler(self, getattr(request, kind))
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the participant
            log.warning("%s: could not handle %s: %s: %s", self._label(), kind, type(exc).__name__, exc)
        return not self._closed

    async def _on_offer(self, offer: rtc.SessionDescription) -> None:
        answer = await self.peers.answer_publisher(offer.sdp, self._codec_for, blocked=self.room.media.media_blocked())
        await self._send(rtc.SignalResponse(answer=rtc.SessionDescription(type="answer", sdp=answer, id=offer.id)))
        codecs = self.peers.publisher_codecs()
        self.room.media.room_event("publisher_answered", identity=self.identity, codecs=codecs)
        self._offered.set()
        if codecs and self.grant.can_publish:  # the camera's section, as the legacy answer
            self.room.media.room_media_live()
        if not self._announced:
            self._announced = True
            await self._announce_output()

    async def _announce_output(self) -> None:
        """The model's participant and track, then its subscriber offer."""
        await self._send(rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[self.room.inference_info()])))
        if not self.grant.can_subscribe:
            return
        sdp = await self.peers.offer_subscriber(self.room.media.room_output(), self.room.output_stream_id,
                                                self.room.output_track_sid, blocked=self.room.media.media_blocked())
        self._offer_id += 1
        await self._send(rtc.SignalResponse(offer=rtc.SessionDescription(type="offer", sdp=sdp, id=self._offer_id)))

    async def _on_answer(self, answer: rtc.SessionDescription) -> None:
        await self.peers.subscriber_answer(answer.sdp)

    async def _on_trickle(self, trickle: rtc.TrickleRequest) -> None:
        target = SUBSCRIBER if trickle.target == rtc.SignalTarget.SUBSCRIBER else PUBLISHER
        await self.peers.add_candidate(target, trickle.candidateInit)

    async def _on_add_track(self, req: rtc.AddTrackRequest) -> None:
        if not self.grant.can_publish:
            log.info("%s: add_track refused: the token does not allow publishing", self._label())
            return
        codecs = [c.codec.lower() for c in req.simulcast_codecs if c.codec]
        mime = _MIME.get(codecs[0].split("/")[-1]) if codecs else None
        if mime is not None:
            self._codecs[req.cid] = self._last_codec = mime
        track = models.TrackInfo(
            sid=new_sid("TR_"), type=req.type, name=req.name, width=req.width, height=req.height,
            source=req.source, layers=list(req.layers), simulcast=len(req.layers) > 1, mime_type=mime or "",
            stream=req.stream)
        self._published[req.cid] = track
        self.room.media.room_event("track_published", identity=self.identity, mime_type=mime or "",
                                   width=req.width, height=req.height)
        await self._send(rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=track)))

    def _codec_for(self, track_id: str | None) -> str | None:
        if track_id is not None and track_id in self._codecs:
            return self._codecs[track_id]
        return self._last_codec

    async def _on_leave(self, leave: rtc.LeaveRequest) -> None:
        log.info("%s: left the room", self._label())
        await self.close()

    async def _on_ping(self, timestamp: int) -> None:
        await self._send(rtc.SignalResponse(pong=_now_ms()))

    async def _on_ping_req(self, ping: rtc.Ping) -> None:
        await self._send(rtc.SignalResponse(pong_resp=rtc.Pong(last_ping_timestamp=ping.timestamp, timestamp=_now_ms())))

    # -- media ----------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self.grant.can_publish:
            self.room.media.room_input(track)
        else:
            self._spawn(drain(track))  # unread remote tracks buffer without bound

    def _on_failed(self, what: str) -> None:
        log.info("%s: %s; closing", self._label(), what)
        self._spawn(self.close())

    # -- ending ---------------------------------------------------------
    async def abort(self) -> None:
        """Drop the signal connection without a word (its TCP connection aborted)."""
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        await self.close()

    async def close(self, *, leave_reason: int | None = None) -> None:
        """End the participant; with ``leave_reason`` tell the client first
        (LeaveRequest DISCONNECT), as a server-side removal. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if leave_reason is not None:
            leave = rtc.LeaveRequest(action=rtc.LeaveRequest.Action.DISCONNECT, reason=leave_reason,  # type: ignore[arg-type]
                                     can_reconnect=False)
            await self._send(rtc.SignalResponse(leave=leave))
        self.room.remove(self)
        tasks = self._tasks.cancel()
        await self.peers.close()
        await close_socket(self.ws)
        await asyncio.gather(*tasks, return_exceptions=True)
        self.room.media.room_event("participant_left", identity=self.identity)


_HANDLERS: dict[str, Any] = {
    "offer": SignalParticipant._on_offer,
    "answer": SignalParticipant._on_answer,
    "trickle": SignalParticipant._on_trickle,
    "add_track": SignalParticipant._on_add_track,
    "leave": SignalParticipant._on_leave,
    "ping": SignalParticipant._on_ping,
    "ping_req": SignalParticipant._on_ping_req,
}


async def refuse_resume(ws: web.WebSocketResponse) -> None:
    """A resume attempt (``reconnect=1``): the session is not kept, so tell the
    client to start over (LeaveRequest RECONNECT, as LiveKit does for a
    participant it no longer has), then close."""
    leave = rtc.LeaveRequest(action=rtc.LeaveRequest.Action.RECONNECT, can_reconnect=True,
                             reason=models.DisconnectReason.STATE_MISMATCH)
    try:
        await ws.send_bytes(rtc.SignalResponse(leave=leave).SerializeToString())
    except (ConnectionError, RuntimeError):
        pass
    await close_socket(ws)
