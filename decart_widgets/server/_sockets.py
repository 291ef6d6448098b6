"""Closing a server WebSocket whose peer may already be gone."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

__all__ = ["close_socket"]

log = logging.getLogger(__name__)

#: Seconds a close handshake may take before the socket is left to aiohttp.
CLOSE_TIMEOUT = 2.0


async def close_socket(ws: web.WebSocketResponse) -> None:
    """Close ``ws`` (idempotent, bounded): a client that vanished or never
    answers the close handshake must not hold up the server."""
    if ws.closed:
        return
    try:
        await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
        log.debug("WebSocket close did not complete: %s", type(exc).__name__)
