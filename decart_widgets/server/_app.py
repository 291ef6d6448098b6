"""The aiohttp application: routes, key checks, the client-token endpoint.

- ``GET /v1/stream?api_key=&model=`` (WebSocket): a realtime stream. Any
  other WebSocket path except ``/subscribe/...`` is served the same way, so
  a custom model with its own ``url_path`` works.
  Both generations start here: ``offer`` (legacy) or ``livekit_join``.
- ``GET /subscribe/<session_id>?IP=&port=&api_key=`` (WebSocket): a
  view-only subscriber of a running stream (legacy generation).
- ``POST /v1/client/tokens``: short-lived client tokens.
- ``GET /``: a small JSON description of the server.
- the LiveKit room endpoints (``/rtc``, ``/watch-stream/...``): :mod:`._room_http`.

Rejections follow production: the WebSocket is accepted, an ``error`` message
is sent, then the socket is closed. Keys never reach a log (``redact``), and
aiohttp's access log is off for the same reason.
"""

from __future__ import annotations

import logging
import re
import uuid

from aiohttp import web

from .. import protocol
from .._version import __version__
from ..models import realtime_model_names
from ._auth import TokenRequestError, redact
from ._room_http import add_room_routes
from ._sockets import close_socket
from ._state import ServerState
from ._stream import Stream
from ._subscribe import Subscriber
from .faults import REJECTED_CONNECTION_ERROR

__all__ = ["build_app"]

log = logging.getLogger(__name__)

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}$")
_DEFAULT_MODEL = "lucy-2.1"
_WS_OPTIONS = {"max_msg_size": 32 * 1024 * 1024, "heartbeat": None, "timeout": 2.0, "compress": False}


def build_app(state: ServerState) -> web.Application:
    app = web.Application()
    handlers = _Handlers(state)
    add_room_routes(app, state)  # before the catch-all stream route
    app.router.add_post("/v1/client/tokens", handlers.tokens)
    app.router.add_get("/subscribe/{session_id}", handlers.subscribe)
    app.router.add_get("/", handlers.index)
    app.router.add_get("/{tail:.*}", handlers.stream)
    return app


async def _reject(ws: web.WebSocketResponse, text: str) -> web.WebSocketResponse:
    try:
        await ws.send_str(protocol.encode(protocol.Error(text)))
    except (ConnectionError, RuntimeError):
        pass
    await close_socket(ws)
    return ws


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self.server = state

    async def index(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(**_WS_OPTIONS)  # type: ignore[arg-type]
        if ws.can_prepare(request).ok:
            return await self.stream(request)
        return web.json_response({
            "name": "decart-widgets local server",
            "version": __version__,
            "realtime_url": self.server.url,
            "models": realtime_model_names(),
        })

    async def _accept(self, request: web.Request, refusal: web.HTTPException) -> web.WebSocketResponse:
        """Upgrade to a WebSocket (counted as a connection), or raise ``refusal``."""
        ws = web.WebSocketResponse(**_WS_OPTIONS)  # type: ignore[arg-type]
        if not ws.can_prepare(request).ok:
            raise refusal
        await ws.prepare(request)
        self.server.connections_total += 1
        return ws

    async def stream(self, request: web.Request) -> web.StreamResponse:
        ws = await self._accept(request, web.HTTPNotFound(text="not found: realtime streams are WebSocket endpoints (/v1/stream)"))
        server = self.server
        query = request.query
        model = query.get("model") or _DEFAULT_MODEL
        log.info("realtime connection %s", redact(str(request.rel_url)))
        if server.faults.take_rejection():
            return await _reject(ws, REJECTED_CONNECTION_ERROR)
        error = server.keys.check(query.get("api_key"), model, request.headers.get("Origin"))
        if error is not None:
            return await _reject(ws, error)
        if not _MODEL_NAME.match(model):
            return await _reject(ws, f"Model not found: {model[:80]!r} is not a valid model name")
        stream = Stream(server, ws, request, uuid.uuid4().hex, model)
        server.streams[stream.session_id] = stream
        server.events.append(stream.session_id, "stream_opened", source="server", model=model)
        try:
            await stream.run()
        finally:
            server.streams.pop(stream.session_id, None)
        return ws

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        ws = await self._accept(request, web.HTTPBadRequest(text="the subscribe endpoint is a WebSocket endpoint"))
        server = self.server
        session_id = request.match_info["session_id"]
        if server.faults.take_rejection():
            return await _reject(ws, REJECTED_CONNECTION_ERROR)
        error = server.keys.check(request.query.get("api_key"), None, request.headers.get("Origin"))
        if error is not None:
            return await _reject(ws, error)
        stream = server.streams.get(session_id)
        if stream is None:
            return await _reject(ws, f"Invalid session: no running session {session_id[:80]!r}")
        await Subscriber(stream, ws).run()
        return ws

    async def tokens(self, request: web.Request) -> web.Response:
        body = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "request body must be JSON"}, status=400)
        try:
            result = self.server.keys.issue(request.headers.get("X-API-KEY"), body)
        except TokenRequestError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        return web.json_response(result)
