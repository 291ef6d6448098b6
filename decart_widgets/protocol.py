"""The wire messages of docs/protocol.md (sections 2 and 3): parse and encode.

Both generations share these control messages; the LiveKit generation adds
``livekit_join`` (client), ``queue_position`` and ``livekit_room_info`` (server).

Parsing is tolerant: unknown message types and unknown fields are ignored,
malformed JSON or wrong field types give ``None`` (logged), never an exception.
Encoding is exact: field names and nulls as the protocol spells them.
No sockets, no state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "Prompt", "SetImage", "Offer", "Answer", "IceCandidate", "IceRestart", "SessionId",
    "Ready", "PromptAck", "SetImageAck", "GenerationStarted", "GenerationTick",
    "GenerationEnded", "Error", "LiveKitJoin", "LiveKitRoomInfo", "QueuePosition", "Message",
    "parse", "parse_obj", "encode", "to_obj", "CandidateDict",
]

CandidateDict = dict[str, Any]


@dataclass(frozen=True)
class Prompt:
    prompt: str
    enhance_prompt: bool = True
    type: str = field(default="prompt", init=False)


@dataclass(frozen=True)
class SetImage:
    """``image_data`` is raw base64 or None; None with ``prompt`` None = passthrough.

    ``prompt`` and ``enhance_prompt`` are omitted from the wire when ``None``,
    except ``prompt`` in a passthrough, which the protocol spells as a null.
    """

    image_data: str | None
    prompt: str | None = None
    enhance_prompt: bool | None = None
    type: str = field(default="set_image", init=False)

    @property
    def is_passthrough(self) -> bool:
        return self.image_data is None and self.prompt is None


@dataclass(frozen=True)
class Offer:
    sdp: str
    type: str = field(default="offer", init=False)


@dataclass(frozen=True)
class Answer:
    sdp: str
    type: str = field(default="answer", init=False)


@dataclass(frozen=True)
class IceCandidate:
    """``candidate`` None (or an empty candidate string) ends the candidates."""

    candidate: CandidateDict | None
    type: str = field(default="ice-candidate", init=False)

    @property
    def is_end(self) -> bool:
        return self.candidate is None or not self.candidate.get("candidate")


@dataclass(frozen=True)
class IceRestart:
    turn_config: dict[str, Any] | None = None
    type: str = field(default="ice-restart", init=False)


@dataclass(frozen=True)
class SessionId:
    session_id: str
    server_ip: str
    server_port: int
    type: str = field(default="session_id", init=False)


@dataclass(frozen=True)
class Ready:
    type: str = field(default="ready", init=False)


@dataclass(frozen=True)
class PromptAck:
    prompt: str
    success: bool
    error: str | None = None
    type: str = field(default="prompt_ack", init=False)


@dataclass(frozen=True)
class SetImageAck:
    success: bool
    error: str | None = None
    type: str = field(default="set_image_ack", init=False)


@dataclass(frozen=True)
class GenerationStarted:
    type: str = field(default="generation_started", init=False)


@dataclass(frozen=True)
class GenerationTick:
    seconds: int
    type: str = field(default="generation_tick", init=False)


@dataclass(frozen=True)
class GenerationEnded:
    seconds: int
    reason: str
    type: str = field(default="generation_ended", init=False)


@dataclass(frozen=True)
class Error:
    error: str
    type: str = field(default="error", init=False)


@dataclass(frozen=True)
class LiveKitJoin:
    """Ask for a LiveKit room (current generation) instead of offering WebRTC media.

    Every field is optional and omitted from the wire when ``None``: Python SDK
    0.2.x sends a bare join; JS 0.1.14+ sends ``passthrough`` (true when it has
    no initial state) and, when asked, ``client_capabilities``; JS 0.1.6 put its
    initial ``prompt``/``set_image`` message inside as ``initial_state`` (and
    still sends it again on its own after the room info).
    """

    passthrough: bool | None = None
    initial_state: Prompt | SetImage | None = None
    client_capabilities: dict[str, Any] | None = None
    type: str = field(default="livekit_join", init=False)


@dataclass(frozen=True)
class LiveKitRoomInfo:
    """Join this LiveKit room (``livekit_url``) with this room ``token``."""

    livekit_url: str
    token: str
    room_name: str
    session_id: str
    type: str = field(default="livekit_room_info", init=False)


@dataclass(frozen=True)
class QueuePosition:
    """Waiting for a model slot: ``position`` of ``queue_size`` (sent before the room info)."""

    position: int
    queue_size: int
    type: str = field(default="queue_position", init=False)


Message = (
    Prompt | SetImage | Offer | Answer | IceCandidate | IceRestart | SessionId | Ready | PromptAck
    | SetImageAck | GenerationStarted | GenerationTick | GenerationEnded | Error | LiveKitJoin
    | LiveKitRoomInfo | QueuePosition
)


class _Bad(Exception):
    pass


def _str(d: dict[str, Any], key: str, *, nullable: bool = False, default: Any = ...) -> Any:
    if key not in d:
        if default is not ...:
            return default
        raise _Bad(f"missing field {key!r}")
    value = d[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _Bad(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _bool(d: dict[str, Any], key: str, *, default: Any = ..., nullable: bool = False) -> Any:
    if key not in d:
        if default is not ...:
            return default
        raise _Bad(f"missing field {key!r}")
    value = d[key]
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise _Bad(f"field {key!r} must be a boolean, got {type(value).__name__}")
    return value


def _int(d: dict[str, Any], key: str, *, default: Any = ...) -> Any:
    if key not in d:
        if default is not ...:
            return default
        raise _Bad(f"missing field {key!r}")
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"field {key!r} must be a number, got {type(value).__name__}")
    return int(value)


def _candidate(d: dict[str, Any]) -> CandidateDict | None:
    value = d.get("candidate")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad("field 'candidate' must be an object or null")
    cand = value.get("candidate")
    if cand is not None and not isinstance(cand, str):
        raise _Bad("candidate.candidate must be a string")
    out: CandidateDict = {"candidate": cand or ""}
    mline = value.get("sdpMLineIndex")
    if mline is not None:
        if isinstance(mline, bool) or not isinstance(mline, int):
            raise _Bad("candidate.sdpMLineIndex must be an int")
        out["sdpMLineIndex"] = mline
    mid = value.get("sdpMid")
    if mid is not None:
        out["sdpMid"] = str(mid)
    return out


def _dict_or_none(d: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = d.get(key)
    return value if isinstance(value, dict) else None


def _initial_state(d: dict[str, Any]) -> Prompt | SetImage | None:
    # A join is worth keeping without its initial state (the clients that put
    # one inside the join send it again on its own), so a bad one is dropped alone.
    value = d.get("initial_state")
    if value is None:
        return None
    parsed = parse_obj(value) if isinstance(value, dict) else None
    if isinstance(parsed, (Prompt, SetImage)):
        return parsed
    log.warning("livekit_join: ignoring initial_state that is not a prompt or set_image message: %.200r", value)
    return None


_PARSERS: dict[str, Any] = {
    "prompt": lambda d: Prompt(_str(d, "prompt"), _bool(d, "enhance_prompt", default=True, nullable=True) is not False),
    "set_image": lambda d: SetImage(
        _str(d, "image_data", nullable=True, default=None),
        _str(d, "prompt", nullable=True, default=None),
        _bool(d, "enhance_prompt", default=None, nullable=True),
    ),
    "offer": lambda d: Offer(_str(d, "sdp")),
    "answer": lambda d: Answer(_str(d, "sdp")),
    "ice-candidate": lambda d: IceCandidate(_candidate(d)),
    "ice-restart": lambda d: IceRestart(_dict_or_none(d, "turn_config")),
    "session_id": lambda d: SessionId(_str(d, "session_id"), _str(d, "server_ip", default=""), _int(d, "server_port", default=0)),
    "ready": lambda d: Ready(),
    "prompt_ack": lambda d: PromptAck(_str(d, "prompt"), _bool(d, "success"), _str(d, "error", nullable=True, default=None)),
    "set_image_ack": lambda d: SetImageAck(_bool(d, "success"), _str(d, "error", nullable=True, default=None)),
    "generation_started": lambda d: GenerationStarted(),
    "generation_tick": lambda d: GenerationTick(_int(d, "seconds")),
    "generation_ended": lambda d: GenerationEnded(_int(d, "seconds", default=0), _str(d, "reason", default="")),
    "error": lambda d: Error(_str(d, "error", default="unknown server error") or "unknown server error"),
    "livekit_join": lambda d: LiveKitJoin(
        _bool(d, "passthrough", default=None, nullable=True),
        _initial_state(d),
        _dict_or_none(d, "client_capabilities"),
    ),
    "livekit_room_info": lambda d: LiveKitRoomInfo(
        _str(d, "livekit_url"), _str(d, "token"), _str(d, "room_name"), _str(d, "session_id")
    ),
    "queue_position": lambda d: QueuePosition(_int(d, "position"), _int(d, "queue_size")),
}


def parse_obj(obj: Any) -> Message | None:
    """Parse a decoded JSON object; ``None`` for unknown or malformed messages."""
    if not isinstance(obj, dict):
        log.warning("dropping message that is not a JSON object: %.200r", obj)
        return None
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        log.debug("ignoring message of unknown type %.80r", kind)
        return None
    try:
        return parser(obj)
    except _Bad as exc:
        log.warning("dropping malformed %r message: %s", kind, exc)
        return None


def parse(text: str | bytes) -> Message | None:
    """Parse one WebSocket text frame; ``None`` for anything not understood."""
    try:
        obj = json.loads(text)
    except (ValueError, TypeError) as exc:
        log.warning("dropping malformed JSON message (%s): %.200r", exc, text)
        return None
    return parse_obj(obj)


def to_obj(msg: Message) -> dict[str, Any]:
    """The exact wire object of a message."""
    if isinstance(msg, SetImage):
        obj: dict[str, Any] = {"type": msg.type, "image_data": msg.image_data}
        if msg.prompt is not None or msg.is_passthrough:
            obj["prompt"] = msg.prompt
        if msg.enhance_prompt is not None:
            obj["enhance_prompt"] = msg.enhance_prompt
        return obj
    if isinstance(msg, LiveKitJoin):
        obj = {"type": msg.type}
        if msg.passthrough is not None:
            obj["passthrough"] = msg.passthrough
        if msg.initial_state is not None:
            obj["initial_state"] = to_obj(msg.initial_state)
        if msg.client_capabilities is not None:
            obj["client_capabilities"] = msg.client_capabilities
        return obj
    if isinstance(msg, IceRestart):
        obj = {"type": msg.type}
        if msg.turn_config is not None:
            obj["turn_config"] = msg.turn_config
        return obj
    obj = {"type": msg.type}
    for name, value in msg.__dict__.items():
        if name != "type":
            obj[name] = value
    return obj


def encode(msg: Message) -> str:
    return json.dumps(to_obj(msg), separators=(",", ":"))
