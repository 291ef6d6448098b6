"""The WebSocket control channel: send messages, match acks to requests,
time them out, and hand every other message to the session.

``prompt_ack`` carries only the prompt text, so requests are matched by text
with a FIFO per text (two identical prompts in flight resolve in order).
``set_image`` has one outstanding request at a time (a lock serialises them).
A server ``error`` fails every pending request with its text.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from collections.abc import Callable

import aiohttp

from . import protocol as P
from .errors import (
    DecartError,
    DecartTimeoutError,
    InvalidAPIKeyError,
    ServerError,
    WebSocketError,
    is_permanent_error,
)

log = logging.getLogger(__name__)

__all__ = ["SignalingChannel", "redact_url", "server_error"]

_KEY_PARAM = re.compile(r"((?:api_key|token)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its key replaced by ``***``: safe for logs and errors."""
    return _KEY_PARAM.sub(r"\1***", url)


def server_error(text: str) -> DecartError:
    """The error class for a server ``error`` text."""
    lowered = text.lower()
    if any(m in lowered for m in ("invalid api key", "401", "unauthorized")):
        return InvalidAPIKeyError(text)
    return ServerError(text)


class SignalingChannel:
    """One WebSocket connection to a realtime endpoint."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        on_message: Callable[[P.Message], None],
    ) -> None:
        self._http = http
        self._url = url
        self._on_message = on_message
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._prompt_waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._image_waiter: asyncio.Future[None] | None = None
        self._image_lock = asyncio.Lock()
        #: Resolves with the reason (an exception or None) when the socket ends.
        self.closed: asyncio.Future[DecartError | None] = asyncio.get_running_loop().create_future()
        self._closing = False

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._ws.closed and not self.closed.done()

    async def open(self, timeout: float) -> None:
        try:
            self._ws = await asyncio.wait_for(
                self._http.ws_connect(  # type: ignore[arg-type]
                    self._url,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                    max_msg_size=32 * 1024 * 1024,
                    autoping=True,
                ),
                timeout,
            )
        except asyncio.TimeoutError as exc:
            raise DecartTimeoutError(
                f"WebSocket to {redact_url(self._url)} did not open in {timeout:.0f} s",
                phase="websocket",
            ) from exc
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise InvalidAPIKeyError(f"server refused the key (HTTP {exc.status})") from exc
            raise WebSocketError(
                f"WebSocket handshake with {redact_url(self._url)} failed: HTTP {exc.status}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise WebSocketError(
                f"cannot open WebSocket to {redact_url(self._url)}: {exc.__class__.__name__}: "
                f"{redact_url(str(exc))}"
            ) from exc
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="decart-signaling")

    async def _read(self) -> None:
        assert self._ws is not None
        reason: DecartError | None = None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    parsed = P.parse(msg.data)
                    if parsed is not None:
                        reason = self._dispatch(parsed) or reason
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    reason = WebSocketError(f"WebSocket error: {self._ws.exception()}")
                    break
                # binary frames are not part of the protocol: ignored
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a reader must never die silently
            log.exception("signaling reader failed")
            reason = WebSocketError(f"WebSocket reader failed: {exc}")
        finally:
            if reason is None and not self._closing:
                code = self._ws.close_code if self._ws is not None else None
                reason = WebSocketError(f"WebSocket closed by the server (code {code})")
            self._fail_pending(reason or WebSocketError("WebSocket closed"))
            if not self.closed.done():
                self.closed.set_result(reason)

    def _dispatch(self, msg: P.Message) -> DecartError | None:
        if isinstance(msg, P.PromptAck):
            waiters = self._prompt_waiters.get(msg.prompt)
            if waiters:
                fut = waiters.popleft()
                if not waiters:
                    del self._prompt_waiters[msg.prompt]
                if not fut.done():
                    if msg.success:
                        fut.set_result(None)
                    else:
                        fut.set_exception(ServerError(msg.error or "prompt rejected by the server"))
            else:
                log.debug("prompt_ack for a prompt not in flight: %.80r", msg.prompt)
            return None
        if isinstance(msg, P.SetImageAck):
            waiter = self._image_waiter
            self._image_waiter = None
            if waiter is not None and not waiter.done():
                if msg.success:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(ServerError(msg.error or "image rejected by the server"))
            return None
        if isinstance(msg, P.Error):
            err = server_error(msg.error)
            self._fail_pending(err)
            self._on_message(msg)
            return err if is_permanent_error(msg.error) else None
        self._on_message(msg)
        return None

    def _fail_pending(self, exc: DecartError) -> None:
        for waiters in self._prompt_waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
        self._prompt_waiters.clear()
        if self._image_waiter is not None and not self._image_waiter.done():
            self._image_waiter.set_exception(exc)
        self._image_waiter = None

    async def send(self, msg: P.Message) -> None:
        if not self.is_open:
            raise WebSocketError("WebSocket is not open")
        assert self._ws is not None
        try:
            await self._ws.send_str(P.encode(msg))
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise WebSocketError(f"sending {msg.type} failed: {exc}") from exc

    async def request_prompt(self, text: str, enhance: bool, timeout: float) -> None:
        """Send ``prompt`` and wait for its ``prompt_ack``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._prompt_waiters.setdefault(text, collections.deque())
        queue.append(fut)
        try:
            await self.send(P.Prompt(text, enhance))
            await self._await_ack(fut, timeout, "prompt_ack")
        finally:
            q = self._prompt_waiters.get(text)
            if q is not None and fut in q:
                q.remove(fut)
                if not q:
                    del self._prompt_waiters[text]

    async def request_set_image(
        self, image_b64: str | None, prompt: str | None, enhance: bool | None, timeout: float
    ) -> None:
        """Send ``set_image`` and wait for its ``set_image_ack``."""
        async with self._image_lock:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._image_waiter = fut
            try:
                await self.send(P.SetImage(image_b64, prompt, enhance))
                await self._await_ack(fut, timeout, "set_image_ack")
            finally:
                if self._image_waiter is fut:
                    self._image_waiter = None

    async def _await_ack(self, fut: asyncio.Future[None], timeout: float, phase: str) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError as exc:
            fut.cancel()
            raise DecartTimeoutError(f"no {phase} from the server within {timeout:g} s", phase=phase) from exc

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            try:
                await asyncio.wait_for(self._ws.close(), 3)
            except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                # the socket is gone either way; the server may not have seen a clean close
                log.info("WebSocket close handshake did not finish: %s: %s", type(exc).__name__, exc)
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass  # the cancel above
            except Exception:  # noqa: BLE001 - _read() logs its own failures; this is a bug if reached
                log.warning("signaling reader ended with an error", exc_info=True)
        self._fail_pending(WebSocketError("session closed"))
        if not self.closed.done():
            self.closed.set_result(None)
