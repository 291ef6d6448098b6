"""Watching a running session, view-only: the subscribe token in both
generations' forms, and the LiveKit generation's ``watch-stream`` request.

- legacy: base64 of ``{"sid", "ip", "port"}``; the viewer opens
  ``/subscribe/<sid>?IP=..&port=..`` and receives over aiortc;
- LiveKit: base64 of ``{"room_name"}``; the viewer posts
  ``/watch-stream/<room_name>`` (header ``x-api-key``) and joins the room it
  is given with a subscribe-only token (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from typing import Any, NamedTuple

import aiohttp

from .. import protocol as P
from ..errors import (
    InvalidAPIKeyError,
    InvalidInputError,
    ServerError,
    WebSocketError,
    is_permanent_error,
)

__all__ = ["LegacyWatch", "RoomWatch", "decode_subscribe_token", "fetch_watch_credentials", "http_base"]


class LegacyWatch(NamedTuple):
    """A legacy-generation session to watch: its id and where its server is."""

    sid: str
    ip: str
    port: int


class RoomWatch(NamedTuple):
    """A LiveKit-generation session to watch: its room."""

    room_name: str


def decode_subscribe_token(token: Any) -> LegacyWatch | RoomWatch:
    """The session a subscribe token names (URL-safe or standard base64 of
    ``{"sid", "ip", "port"}`` or of ``{"room_name"}``)."""
    if not isinstance(token, str) or not token.strip():
        raise InvalidInputError("subscribe token must be a non-empty string (a session's subscribe_token)")
    text = token.strip()
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"invalid subscribe token: {exc}") from exc
    if isinstance(data, dict) and "room_name" in data:
        room = data["room_name"]
        if not isinstance(room, str) or not room:
            raise InvalidInputError("invalid subscribe token: room_name must be a non-empty string")
        return RoomWatch(room)
    if not isinstance(data, dict) or not {"sid", "ip", "port"} <= set(data):
        raise InvalidInputError(
            "invalid subscribe token: needs {room_name} (LiveKit generation) or {sid, ip, port} (legacy)"
        )
    sid, ip, port = data["sid"], data["ip"], data["port"]
    if not isinstance(sid, str) or not sid or not isinstance(ip, str) or isinstance(port, bool) or not isinstance(port, int):
        raise InvalidInputError("invalid subscribe token: needs sid (str), ip (str) and port (int)")
    return LegacyWatch(sid, ip, port)


def http_base(realtime_base_url: str) -> str:
    """``wss://host`` → ``https://host`` (and ``ws`` → ``http``)."""
    parts = urllib.parse.urlsplit(realtime_base_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, "", "")).rstrip("/")


async def fetch_watch_credentials(
    http: aiohttp.ClientSession, base_url: str, key: str, room_name: str, timeout: float
) -> P.LiveKitRoomInfo:
    """``POST {https base}/watch-stream/{room_name}``: a subscribe-only room token."""
    url = f"{http_base(base_url)}/watch-stream/{urllib.parse.quote(room_name, safe='')}"
    try:
        async with http.post(url, headers={"x-api-key": key}, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.text()
            if resp.status in (401, 403):
                raise InvalidAPIKeyError(f"watch-stream refused the key (HTTP {resp.status}): {body[:200]}")
            if resp.status >= 400:
                text = f"watch-stream for room {room_name!r} failed (HTTP {resp.status}): {body[:200]}"
                if resp.status == 404 and not is_permanent_error(text):
                    text += " (invalid session)"  # a room that is gone will not come back: not retried
                raise ServerError(text)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise WebSocketError(f"watch-stream request to {url} failed: {exc.__class__.__name__}: {exc}") from exc
    try:
        data = json.loads(body)
        return P.LiveKitRoomInfo(
            livekit_url=str(data["livekit_url"]),
            token=str(data["token"]),
            room_name=str(data.get("room_name", room_name)),
            session_id=str(data.get("session_id") or data.get("room_name", room_name)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ServerError(f"watch-stream answered without livekit_url and token: {body[:200]}") from exc
