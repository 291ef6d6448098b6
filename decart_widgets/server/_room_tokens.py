"""Room tokens: the JWTs a LiveKit client presents to join a room.

Minted by this server (HS256 with a secret of its own, LiveKit's claim
layout: ``iss`` the API key, ``sub`` the identity, ``video`` the grants) and
checked when a client connects to ``/rtc``. Failures carry the HTTP status and
text a LiveKit server answers with, so clients report them the same way.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

__all__ = ["RoomTokens", "RoomGrant", "RoomAccessError", "API_KEY"]

#: The ``iss`` of every room token (LiveKit's "API key"; not a secret).
API_KEY = "decart-local"
#: How long a room token may be used to join (LiveKit checks tokens on join only).
TOKEN_TTL = 600.0


class RoomAccessError(Exception):
    """A refused room connection: the HTTP ``status`` and LiveKit's error text."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class RoomGrant:
    identity: str
    room: str
    can_publish: bool
    can_subscribe: bool


class RoomTokens:
    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret or secrets.token_urlsafe(32)

    def mint(self, room: str, identity: str, *, can_publish: bool, ttl: float = TOKEN_TTL) -> str:
        now = int(time.time())
        claims = {
            "iss": API_KEY, "sub": identity, "name": identity, "nbf": now - 1, "exp": now + int(ttl),
            "video": {"roomJoin": True, "room": room, "canPublish": can_publish, "canSubscribe": True,
                      "canPublishData": can_publish},
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str | None) -> RoomGrant:
        """The grant of a valid token; raises :class:`RoomAccessError` as LiveKit would."""
        if not token:
            raise RoomAccessError(401, "permissions denied")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise RoomAccessError(401, "invalid authorization token") from None
        if unverified.get("iss") != API_KEY:
            raise RoomAccessError(401, "invalid API key")
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=API_KEY,
                                options={"require": ["exp", "sub"]})
        except jwt.PyJWTError as exc:
            raise RoomAccessError(401, f"invalid authorization token: {exc}") from None
        video = claims.get("video")
        if not isinstance(video, dict) or not video.get("roomJoin"):
            raise RoomAccessError(401, "permissions denied")
        identity, room = claims.get("sub"), video.get("room")
        if not isinstance(identity, str) or not identity:
            raise RoomAccessError(400, "identity cannot be empty")
        if not isinstance(room, str) or not room:
            raise RoomAccessError(400, "no room name")
        return RoomGrant(identity, room, video.get("canPublish", True) is not False,
                         video.get("canSubscribe", True) is not False)
