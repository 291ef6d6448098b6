"""Small value types the session's modules share."""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ConnectionState", "StateSpec", "Timeouts", "SessionInfo", "MEDIA_LINKS", "CODECS"]

#: The media links a session can use (docs/architecture.md, "Two media links").
MEDIA_LINKS = ("auto", "livekit", "webrtc")
#: Publish codecs; ``None`` picks the link's default (LiveKit H264, aiortc VP8).
CODECS = ("h264", "vp8", "vp9")


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GENERATING = "generating"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StateSpec:
    """A prompt/image state: what is sent initially and restored on reconnect."""

    prompt: str | None = None
    enhance: bool = True
    image_b64: str | None = None


@dataclass(frozen=True)
class Timeouts:
    prompt: float = 15.0
    image: float = 30.0
    connect: float = 300.0
    websocket: float = 30.0
    #: LiveKit generation: ``livekit_join`` → ``livekit_room_info`` (each
    #: ``queue_position`` restarts it, as the JS SDK does).
    room_info: float = 15.0


@dataclass(frozen=True)
class SessionInfo:
    """What the server told us about the session: its id and how to watch it."""

    session_id: str
    #: The subscribe token's payload: ``{"sid", "ip", "port"}`` (legacy
    #: generation) or ``{"room_name"}`` (LiveKit generation).
    watch: dict[str, Any]

    @property
    def subscribe_token(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.watch).encode()).decode()
