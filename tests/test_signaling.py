"""The control channel against a scripted WebSocket peer (no media)."""

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from decart_widgets import protocol as P
from decart_widgets.errors import (
    DecartTimeoutError,
    InvalidAPIKeyError,
    ServerError,
    WebSocketError,
)
from decart_widgets.signaling import SignalingChannel, redact_url


class ScriptedPeer:
    """A WebSocket server whose replies a test scripts per received message."""

    def __init__(self):
        self.received: list[dict] = []
        self.reply = None  # async (ws, msg) -> None
        self.ws = None
        self._arrived = asyncio.Condition()

    async def handler(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        async for msg in ws:
            data = json.loads(msg.data)
            async with self._arrived:
                self.received.append(data)
                self._arrived.notify_all()
            if self.reply is not None:
                await self.reply(ws, data)
        return ws

    async def wait_received(self, count: int, timeout: float = 5) -> None:
        """Until the peer has received ``count`` messages."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received) >= count), timeout)


@pytest.fixture
async def peer():
    p = ScriptedPeer()
    app = web.Application()
    app.router.add_get("/v1/stream", p.handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    p.url = f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/stream?api_key=secret"
    yield p
    await runner.cleanup()


@pytest.fixture
async def channel(peer):
    seen = []
    async with aiohttp.ClientSession() as http:
        ch = SignalingChannel(http, peer.url, seen.append)
        ch.seen = seen
        await ch.open(5)
        yield ch
        await ch.close()


async def test_prompt_acks_matched_by_text_fifo(peer, channel):
    async def reply(ws, msg):
        if msg["type"] == "prompt" and msg["prompt"] == "b":
            # ack both 'a's and the 'b' out of order: the 'b' first
            await ws.send_str(P.encode(P.PromptAck("b", True)))
            await ws.send_str(P.encode(P.PromptAck("a", True)))
            await ws.send_str(P.encode(P.PromptAck("a", False, "second a rejected")))

    peer.reply = reply
    first = asyncio.ensure_future(channel.request_prompt("a", True, 5))
    second = asyncio.ensure_future(channel.request_prompt("a", True, 5))
    await peer.wait_received(2)  # both 'a's are out before the 'b'
    await channel.request_prompt("b", False, 5)
    await first
    with pytest.raises(ServerError, match="second a rejected"):
        await second
    assert [m["prompt"] for m in peer.received] == ["a", "a", "b"]
    assert peer.received[2]["enhance_prompt"] is False


async def test_malformed_and_unknown_messages_are_ignored(peer, channel):
    async def reply(ws, msg):
        for junk in ["{not json", "[1,2]", '{"type":"mystery","x":1}', '{"type":"prompt_ack","prompt":5}', '{"type":"generation_tick","seconds":"x"}']:
            await ws.send_str(junk)
        await ws.send_bytes(b"\x00\x01binary")
        await ws.send_str(P.encode(P.GenerationTick(2)))
        await ws.send_str(P.encode(P.PromptAck(msg["prompt"], True)))

    peer.reply = reply
    await channel.request_prompt("hello", True, 5)
    assert channel.is_open
    assert channel.seen == [P.GenerationTick(2)]


async def test_one_set_image_at_a_time_and_failure(peer, channel):
    order = []

    async def reply(ws, msg):
        order.append(msg.get("prompt"))
        await asyncio.sleep(0.05)
        ok = msg.get("prompt") != "bad"
        await ws.send_str(P.encode(P.SetImageAck(ok, None if ok else "rejected by moderation")))

    peer.reply = reply
    a = asyncio.ensure_future(channel.request_set_image("QUJD", "one", True, 5))
    b = asyncio.ensure_future(channel.request_set_image(None, "bad", True, 5))
    await a
    with pytest.raises(ServerError, match="moderation"):
        await b
    assert order == ["one", "bad"]


async def test_ack_timeout_names_the_phase(peer, channel):
    with pytest.raises(DecartTimeoutError) as info:
        await channel.request_prompt("never acked", True, 0.2)
    assert info.value.phase == "prompt_ack" and info.value.code == "WEBRTC_TIMEOUT_ERROR"
    with pytest.raises(DecartTimeoutError) as info:
        await channel.request_set_image(None, None, None, 0.2)
    assert info.value.phase == "set_image_ack"
    assert not channel._prompt_waiters and channel._image_waiter is None


async def test_server_error_fails_every_pending_request(peer, channel):
    async def reply(ws, msg):
        if msg["type"] == "set_image":
            await ws.send_str(P.encode(P.Error("model exploded")))

    peer.reply = reply
    p = asyncio.ensure_future(channel.request_prompt("x", True, 5))
    await peer.wait_received(1)  # the prompt is pending when the error comes
    with pytest.raises(ServerError, match="model exploded"):
        await channel.request_set_image(None, None, None, 5)
    with pytest.raises(ServerError, match="model exploded"):
        await p
    assert channel.seen == [P.Error("model exploded")]


async def test_invalid_key_error_then_close(peer, channel):
    async def reply(ws, msg):
        await ws.send_str(P.encode(P.Error("Invalid API key (401)")))
        await ws.close()

    peer.reply = reply
    with pytest.raises(InvalidAPIKeyError):
        await channel.request_prompt("x", True, 5)
    reason = await asyncio.wait_for(channel.closed, 5)
    assert isinstance(reason, InvalidAPIKeyError)


async def test_socket_closed_by_server_fails_pending(peer, channel):
    async def reply(ws, msg):
        await ws.close()

    peer.reply = reply
    with pytest.raises(WebSocketError):
        await channel.request_prompt("x", True, 5)
    assert isinstance(await asyncio.wait_for(channel.closed, 5), WebSocketError)


async def test_unreachable_server_is_a_websocket_error_without_the_key():
    async with aiohttp.ClientSession() as http:
        ch = SignalingChannel(http, "ws://127.0.0.1:9/v1/stream?api_key=topsecret", lambda m: None)
        with pytest.raises(WebSocketError) as info:
            await ch.open(5)
        assert "topsecret" not in str(info.value)
        await ch.close()


def test_redact_url():
    assert redact_url("wss://h/v1/stream?api_key=abc123&model=x") == "wss://h/v1/stream?api_key=***&model=x"
    assert "tok" not in redact_url("wss://h/x?model=m&api_key=tok")
