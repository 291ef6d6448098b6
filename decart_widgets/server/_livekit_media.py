"""Current-generation media transport: a LiveKit room on this server.

``livekit_join`` on the control socket creates the session's room and
answers ``livekit_room_info`` with a room token for the client; the client
then joins ``/rtc`` on the same port (:mod:`._room_http`, :mod:`._signal`),
publishes its camera (the model's input) and subscribes to the participant
``inference-server-local`` (the model's output). The room ends with the stream.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc import MediaStreamTrack

from .. import protocol
from ._media import MediaTransport, StreamMedia
from ._room_http import livekit_url
from ._rooms import Room, RoomMedia

__all__ = ["LiveKitMedia"]

log = logging.getLogger(__name__)


class LiveKitMedia(MediaTransport, RoomMedia):
    generation = "livekit"

    def __init__(self, stream: StreamMedia) -> None:
        super().__init__(stream)
        self.room: Room | None = None
        self._closed = False

    def accepts(self, msg: protocol.Message) -> bool:
        return isinstance(msg, protocol.LiveKitJoin)

    def starts_session(self, msg: protocol.Message) -> bool:
        return isinstance(msg, protocol.LiveKitJoin)

    async def handle(self, msg: protocol.Message) -> None:
        assert isinstance(msg, protocol.LiveKitJoin)
        if self._closed:
            return
        stream = self.stream
        if msg.initial_state is not None:
            stream.apply_initial_state(msg.initial_state)
        rooms = stream.server.rooms
        if self.room is None or self.room.closed:  # a join again after close_rooms() gets a new room
            self.room = rooms.create(stream.session_id, self)
        token = stream.server.room_tokens.mint(self.room.name, f"client-{stream.session_id[:12]}", can_publish=True)
        stream.record("room_created", source="server", room=self.room.name)
        await stream.send(protocol.LiveKitRoomInfo(livekit_url(stream.request), token, self.room.name,
                                                   stream.session_id))

    # -- RoomMedia: what the room asks of the stream --------------------
    def room_input(self, track: MediaStreamTrack) -> None:
        self.stream.media_input(track)

    def room_output(self) -> MediaStreamTrack:
        return self.stream.media_output()

    def room_media_live(self) -> None:
        self.stream.media_live()

    def media_blocked(self) -> bool:
        return self.stream.media_blocked()

    def room_event(self, type_: str, **fields: Any) -> None:
        self.stream.record(type_, source="server", **fields)

    async def close(self, *, abrupt: bool = False) -> None:
        self._closed = True
        room, self.room = self.room, None
        if room is not None:
            await self.stream.server.rooms.close(room, abrupt=abrupt)
