"""LiveKit rooms of the local server: one per LiveKit-generation stream.

A room has the session's client (publishing its camera), any number of
view-only watchers, and the model as the participant ``inference-server-local``
whose one video track is the stream's output. The room is what connects the
signal side (:mod:`._signal`, one per participant) to the stream
(:class:`RoomMedia`, implemented by the LiveKit media transport).
"""

from __future__ import annotations

import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiortc import MediaStreamTrack
from livekit.protocol import models

if TYPE_CHECKING:
    from ._signal import SignalParticipant

__all__ = ["Room", "Rooms", "RoomMedia", "INFERENCE_IDENTITY", "new_sid"]

log = logging.getLogger(__name__)

#: Official clients take video only from identities starting with "inference-server-".
INFERENCE_IDENTITY = "inference-server-local"


def new_sid(prefix: str) -> str:
    """A LiveKit-style id: ``RM_``, ``PA_`` or ``TR_`` and 12 random characters."""
    return prefix + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


class RoomMedia(ABC):
    """What a room needs from its stream."""

    @abstractmethod
    def room_input(self, track: MediaStreamTrack) -> None:
        """The publishing client's camera track arrived."""

    @abstractmethod
    def room_output(self) -> MediaStreamTrack:
        """A new consumer of the model's output (one per subscribing participant)."""

    @abstractmethod
    def room_media_live(self) -> None:
        """The publishing client's media was negotiated (timed faults count from here)."""

    @abstractmethod
    def media_blocked(self) -> bool:
        """Whether new peer connections must never connect (``Faults.block_media``)."""

    @abstractmethod
    def room_event(self, type_: str, **fields: object) -> None:
        """Record a room event in the server's event log."""


class Room:
    def __init__(self, name: str, session_id: str, media: RoomMedia) -> None:
        self.name = name
        self.session_id = session_id
        self.media = media
        self.sid = new_sid("RM_")
        self.created = time.time()
        self.inference_sid = new_sid("PA_")
        self.output_track_sid = new_sid("TR_")
        self.participants: dict[str, SignalParticipant] = {}
        self.closed = False

    # -- protobuf views -------------------------------------------------
    def info(self) -> models.Room:
        return models.Room(sid=self.sid, name=self.name, creation_time=int(self.created),
                           creation_time_ms=int(self.created * 1000), empty_timeout=300, departure_timeout=20,
                           num_participants=len(self.participants) + 1, num_publishers=1)

    def inference_info(self) -> models.ParticipantInfo:
        track = models.TrackInfo(sid=self.output_track_sid, type=models.TrackType.VIDEO, name="output",
                                 source=models.TrackSource.CAMERA, mime_type="video/VP8")
        return models.ParticipantInfo(
            sid=self.inference_sid, identity=INFERENCE_IDENTITY, name=INFERENCE_IDENTITY,
            state=models.ParticipantInfo.State.ACTIVE, tracks=[track], joined_at=int(self.created),
            joined_at_ms=int(self.created * 1000), is_publisher=True, version=1,
            kind=models.ParticipantInfo.Kind.AGENT,
            permission=models.ParticipantPermission(can_publish=True, can_subscribe=False),
        )

    @property
    def output_stream_id(self) -> str:
        """The msid stream id of the output on a subscriber offer (clients split it on ``|``)."""
        return f"{self.inference_sid}|{self.output_track_sid}"

    # -- membership -----------------------------------------------------
    async def admit(self, participant: SignalParticipant) -> None:
        """``participant`` joins; one with the same identity is replaced, as LiveKit does."""
        old = self.participants.get(participant.identity)
        self.participants[participant.identity] = participant
        if old is not None and old is not participant:
            log.info("room %s: %s joined again; closing its previous connection", self.name, participant.identity)
            await old.close(leave_reason=models.DisconnectReason.DUPLICATE_IDENTITY)

    def remove(self, participant: SignalParticipant) -> None:
        if self.participants.get(participant.identity) is participant:
            del self.participants[participant.identity]

    async def close(self, reason: int = models.DisconnectReason.ROOM_DELETED, *, abrupt: bool = False) -> None:
        """Send every participant a LeaveRequest and close it (``abrupt``: drop
        their connections without a word, as a network failure). Idempotent."""
        if self.closed:
            return
        self.closed = True
        for participant in list(self.participants.values()):
            if abrupt:
                await participant.abort()
            else:
                await participant.close(leave_reason=reason)
        self.participants.clear()


class Rooms:
    """The server's live rooms by name."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}

    def create(self, session_id: str, media: RoomMedia) -> Room:
        room = Room(f"decart-{session_id}", session_id, media)
        self._rooms[room.name] = room
        return room

    def get(self, name: str) -> Room | None:
        room = self._rooms.get(name)
        return room if room is not None and not room.closed else None

    def __len__(self) -> int:
        return len(self._rooms)

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    async def close(self, room: Room, reason: int = models.DisconnectReason.ROOM_DELETED, *,
                    abrupt: bool = False) -> None:
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]
        await room.close(reason, abrupt=abrupt)

    async def close_all(self, reason: int = models.DisconnectReason.ROOM_DELETED) -> int:
        rooms = list(self._rooms.values())
        self._rooms.clear()
        for room in rooms:
            await room.close(reason)
        return len(rooms)
