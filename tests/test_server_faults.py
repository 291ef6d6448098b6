"""Fault injection of the local server (decart_widgets/server/faults.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from _raw_client import PatternTrack, RawClient
from _server_helpers import png_base64, streaming_client

from decart_widgets import protocol
from decart_widgets.errors import is_permanent_error
from decart_widgets.server import Faults, LocalServer

pytestmark = pytest.mark.timeout(30)


def test_faults_defaults_and_reset():
    faults = Faults(ack_delay=2, drop_acks=True, reject_connections=3)
    assert faults.is_moderated("This is NSFW content") and faults.is_moderated("a forbidden-word here")
    assert not faults.is_moderated("a cat") and not faults.is_moderated(None)
    faults.reset()
    assert (faults.ack_delay, faults.drop_acks, faults.reject_connections) == (0.0, False, 0)
    assert faults.moderation_words == ("nsfw", "forbidden-word")
    with pytest.raises(TypeError):
        Faults(drop_everything=True)  # type: ignore[call-arg]


async def test_moderation_rejects_prompts_and_keeps_the_state(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("anime"))
        await client.wait_for("prompt_ack")
        await client.send(protocol.Prompt("something NSFW please"))
        ack = await client.wait_for("prompt_ack", where=lambda m: m["prompt"] == "something NSFW please")
        assert ack["success"] is False and ack["error"] == "Prompt rejected by content moderation"
        await client.send(protocol.SetImage(png_base64(), prompt="forbidden-word"))
        ack = await client.wait_for("set_image_ack")
        assert ack["success"] is False and ack["error"] == "Prompt rejected by content moderation"
        state = local_server.streams[0].state
        assert state.prompt == "anime" and state.image is None and state.version == 1


async def test_ack_delay_does_not_hold_up_signaling():
    async with LocalServer(model="passthrough", faults=Faults(ack_delay=0.5)) as server:
        async with await RawClient.open(server.url) as client:
            sent = time.monotonic()
            await client.send(protocol.Prompt("slow"))
            await client.start_media(PatternTrack())  # answered while the ack waits
            assert "prompt_ack" not in client.types()
            await client.wait_for("prompt_ack", 3)
            assert time.monotonic() - sent >= 0.5
            assert client.types().index("answer") < client.types().index("prompt_ack")


async def test_drop_acks_applies_the_state_but_never_acks(local_server):
    local_server.faults.drop_acks = True
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("lost ack"))
        await local_server.wait_for_event(lambda e: e["type"] == "ack_dropped", timeout=3)
        with pytest.raises(AssertionError, match="no 'prompt_ack'"):
            await client.wait_for("prompt_ack", 0.3)
        assert local_server.streams[0].state.prompt == "lost ack"
        local_server.faults.drop_acks = False
        await client.send(protocol.Prompt("found"))
        await client.wait_for("prompt_ack")


async def test_drop_socket_after_seconds_then_a_healthy_reconnect(local_server):
    local_server.faults.drop_socket_after_seconds = 0.4
    client = await streaming_client(local_server.url)
    try:
        await client.wait_closed(3)
        assert local_server.peer_connections == []
        assert local_server.streams == []
        event = await local_server.wait_for_event(lambda e: e["type"] == "fault")
        assert event["fault"] == "drop_socket_after_seconds"
    finally:
        await client.close()
    local_server.faults.drop_socket_after_seconds = None
    async with await streaming_client(local_server.url) as again:
        await asyncio.sleep(0.6)
        assert not again.closed.is_set()
        before = again.frames
        await again.wait_frames(before + 3)


async def test_timed_fault_applies_to_every_new_stream_while_set(local_server):
    local_server.faults.drop_socket_after_seconds = 0.2
    for _ in range(2):
        async with await streaming_client(local_server.url, frames=1) as client:
            await client.wait_closed(3)


async def test_drop_socket_after_frames(local_server):
    local_server.faults.drop_socket_after_frames = 6
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack())
        await client.wait_closed(5)
        closed = await local_server.wait_for_event(lambda e: e["type"] == "stream_closed")
        assert closed["frames_out"] >= 6


async def test_fault_set_while_streaming_fires(local_server):
    async with await streaming_client(local_server.url) as client:
        await asyncio.sleep(0.3)  # the stream has been live longer than the fault's delay
        local_server.faults.error_text = "GPU on fire"
        local_server.faults.error_after_seconds = 0.1
        error = await client.wait_for("error", 3)
        assert error["error"] == "GPU on fire"
        await asyncio.sleep(0.3)
        assert len(client.of_type("error")) == 1  # once per stream
        assert not client.closed.is_set()


def test_fault_set_from_another_thread_reaches_a_background_server(background_server):
    async def scenario() -> None:
        async with await streaming_client(background_server.url) as client:
            background_server.faults.error_after_seconds = 0.05  # from this (non-server) thread
            assert (await client.wait_for("error", 3))["error"] == background_server.faults.error_text

    asyncio.run(scenario())


async def test_insufficient_credits(local_server):
    local_server.faults.insufficient_credits_after_seconds = 0.5
    async with await streaming_client(local_server.url) as client:
        ended = await client.wait_for("generation_ended", 3)
        assert ended["reason"] == "insufficient_credits" and isinstance(ended["seconds"], int)
        error = await client.wait_for("error", 3)
        assert error["error"] == "Insufficient credits"
        await client.wait_closed(3)
        types = client.types()
        assert types.index("generation_ended") < types.index("error")
    assert local_server.peer_connections == []


async def test_reject_connections_counts_down(local_server):
    local_server.faults.reject_connections = 2
    for _ in range(2):
        async with await RawClient.open(local_server.url) as client:
            error = (await client.wait_for("error"))["error"]
            assert not is_permanent_error(error)  # a client retries it
            await client.wait_closed()
    assert local_server.faults.reject_connections == 0
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("third time lucky"))
        await client.wait_for("prompt_ack")


async def test_drop_streams_now(local_server):
    async with await streaming_client(local_server.url) as a, await streaming_client(local_server.url) as b:
        assert local_server.drop_streams() == 2
        await a.wait_closed(3)
        await b.wait_closed(3)
    await local_server.wait_for_event(lambda e: e["type"] == "stream_closed")
    assert local_server.streams == [] and local_server.peer_connections == []
    assert local_server.drop_streams() == 0


async def test_send_error_to_live_streams(local_server):
    async with await streaming_client(local_server.url) as client:
        assert local_server.send_error("heads up") == 1
        assert (await client.wait_for("error"))["error"] == "heads up"
        assert not client.closed.is_set()
        local_server.send_error("goodbye", close=True)
        await client.wait_for("error", where=lambda m: m["error"] == "goodbye")
        await client.wait_closed(3)
