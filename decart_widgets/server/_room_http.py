"""The LiveKit side of the local server's HTTP surface, on the same port:

- ``GET /rtc`` (WebSocket): a room participant's signal connection; the room
  token comes as ``Authorization: Bearer <jwt>`` (Rust client) or as the
  ``access_token`` query parameter (JS client);
- ``GET /rtc/validate``: the same checks without a WebSocket, called by
  clients after a failed connect for a better error;
- ``/rtc/v1`` and ``/rtc/v1/validate``: 404 with CORS, which makes the clients
  fall back from single-peer-connection mode to ``/rtc``;
- ``POST /watch-stream/{room_name}`` with ``x-api-key``: a subscribe-only
  token for a running room (view-only watching).

Refusals carry LiveKit's status and text (401 for a bad token, 404
"requested room does not exist").
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from ._room_tokens import RoomAccessError, RoomGrant
from ._signal import SignalParticipant, refuse_resume

if TYPE_CHECKING:
    from ._rooms import Room
    from ._state import ServerState

__all__ = ["add_room_routes", "livekit_url"]

log = logging.getLogger(__name__)

_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "authorization, x-api-key, content-type",
         "Access-Control-Allow-Methods": "GET, POST, OPTIONS"}
_WS_OPTIONS = {"max_msg_size": 4 * 1024 * 1024, "heartbeat": None, "timeout": 2.0, "compress": False}


def livekit_url(request: web.Request) -> str:
    """The room URL for a client that reached us with ``request``: the same host and port."""
    return f"{'wss' if request.secure else 'ws'}://{request.host}"


def add_room_routes(app: web.Application, state: ServerState) -> None:
    handlers = _RoomHandlers(state)
    app.router.add_get("/rtc", handlers.rtc)
    app.router.add_get("/rtc/validate", handlers.validate)
    app.router.add_route("*", "/rtc/v1", handlers.not_here)
    app.router.add_route("*", "/rtc/v1/validate", handlers.not_here)
    app.router.add_route("OPTIONS", "/rtc/validate", handlers.preflight)
    app.router.add_post("/watch-stream/{room_name}", handlers.watch)
    app.router.add_route("OPTIONS", "/watch-stream/{room_name}", handlers.preflight)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        if not header.startswith("Bearer "):
            raise RoomAccessError(401, "invalid authorization header. Must start with Bearer ")
        return header[len("Bearer "):].strip()
    return request.query.get("access_token")


class _RoomHandlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state

    def _check(self, request: web.Request) -> tuple[RoomGrant, Room]:
        grant = self.state.room_tokens.verify(_token(request))
        room = self.state.rooms.get(grant.room)
        if room is None:
            raise RoomAccessError(404, "requested room does not exist")
        return grant, room

    async def rtc(self, request: web.Request) -> web.StreamResponse:
        try:
            grant, room = self._check(request)
        except RoomAccessError as exc:
            log.info("LiveKit connection refused (%d): %s", exc.status, exc.text)
            return web.Response(status=exc.status, text=exc.text)
        ws = web.WebSocketResponse(**_WS_OPTIONS)  # type: ignore[arg-type]
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="the LiveKit signal endpoint is a WebSocket endpoint")
        await ws.prepare(request)
        if request.query.get("reconnect") in ("1", "true"):
            log.info("room %s: %s tried to resume; told to reconnect from scratch", room.name, grant.identity)
            room.media.room_event("resume_refused", identity=grant.identity)
            await refuse_resume(ws)
            return ws
        await SignalParticipant(self.state, room, grant, ws, request).run()
        return ws

    async def validate(self, request: web.Request) -> web.Response:
        try:
            self._check(request)
        except RoomAccessError as exc:
            return web.Response(status=exc.status, text=exc.text, headers=_CORS)
        return web.Response(text="success", headers=_CORS)

    async def not_here(self, request: web.Request) -> web.Response:
        # no single-peer-connection mode: clients fall back to /rtc on a 404
        # whose body does not say the room is missing (CORS so a browser can read it)
        return web.Response(status=404, text="not found: this server speaks /rtc", headers=_CORS)

    async def preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=_CORS)

    async def watch(self, request: web.Request) -> web.Response:
        name = request.match_info["room_name"]
        error = self.state.keys.check(request.headers.get("x-api-key"), None, request.headers.get("Origin"))
        if error is not None:
            return web.json_response({"error": error}, status=401, headers=_CORS)
        room = self.state.rooms.get(name)
        if room is None:
            return web.json_response({"error": f"no running session in room {name[:80]!r}"}, status=404,
                                     headers=_CORS)
        identity = f"viewer-{secrets.token_hex(4)}"
        token = self.state.room_tokens.mint(room.name, identity, can_publish=False)
        room.media.room_event("watch_token", identity=identity)
        return web.json_response({"livekit_url": livekit_url(request), "token": token, "room_name": room.name,
                                  "session_id": room.session_id}, headers=_CORS)
