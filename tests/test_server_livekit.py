"""The local server's LiveKit generation, driven by the real ``livekit`` rtc
client (PyPI ``livekit``, the Rust SDK inside): ``livekit_join`` on the
control socket, then a room on the same port (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
import pytest_asyncio

# the rtc client has wheels for Linux x86_64/aarch64 (glibc 2.28+) and macOS arm64 only
pytest.importorskip("livekit.rtc", reason="the livekit rtc client is not available on this platform")

from _livekit_peer import LiveKitPeer, RoomViewer, watch_token  # noqa: E402
from livekit import rtc  # noqa: E402

from decart_widgets import protocol  # noqa: E402
from decart_widgets.server import LocalServer  # noqa: E402

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server():
    async with LocalServer(model="passthrough", tick_interval=0.25) as srv:
        yield srv


@pytest_asyncio.fixture(loop_scope="module")
async def clean(server):
    """Every test leaves the shared server with no stream, room or peer connection."""
    yield server
    for stream in server.streams:
        await server.wait_for_event(lambda e, s=stream.session_id: e["session_id"] == s and e["type"] == "stream_closed")
    assert server.streams == [] and server.rooms == [] and server.peer_connections == []


async def _session(server, *, codec="vp8", simulcast=True, width=640, height=480, frames=10) -> LiveKitPeer:
    peer = await LiveKitPeer.join(server.url)
    try:
        await peer.connect()
        await peer.publish(width, height, codec=codec, simulcast=simulcast)
        await peer.wait_frames(frames)
    except BaseException:
        await peer.close()
        raise
    return peer


async def _closed(server, peer: LiveKitPeer) -> None:
    session_id = peer.info["session_id"]
    await peer.close()
    await server.wait_for_event(lambda e: e["session_id"] == session_id and e["type"] == "stream_closed")


@pytest.mark.parametrize("codec, simulcast", [("vp8", True), ("vp8", False), ("h264", True), ("h264", False)])
async def test_join_publish_receive_leave(clean, codec, simulcast):
    server = clean
    since = server.mark_events()
    peer = await _session(server, codec=codec, simulcast=simulcast)
    try:
        info = peer.info
        assert info["livekit_url"] == server.url and info["room_name"] in server.rooms
        assert info["session_id"] == server.streams[0].session_id and server.streams[0].generation == "livekit"
        answered = await server.wait_for_event(
            lambda e: e["type"] == "publisher_answered" and e["codecs"], since=since)
        assert answered["codecs"][0] == f"video/{codec.upper()}"
        assert all(i.startswith("inference-server-") for i in peer.identities)
        # the model's output is the client's input, at the size the server received
        assert peer.sizes[-1][0] > 0 and server.streams[0].frames_out >= 10
        assert len(server.peer_connections) == 2  # publisher + subscriber
        await peer.control.wait_for("generation_started")
    finally:
        await _closed(server, peer)
    assert server.peer_connections == [] and server.rooms == []


async def test_decart_publish_options_deliver_the_full_720p_layer(clean):
    # Python SDK 0.2.4: TrackPublishOptions() with H264, so simulcast on (f, h, q)
    peer = await _session(clean, codec="h264", simulcast=True, width=1280, height=720, frames=5)
    try:
        await peer.wait_frames(peer.frames + 5)
        assert peer.sizes[-1] == (1280, 720)
    finally:
        await _closed(clean, peer)


async def test_control_messages_are_the_same_as_in_the_legacy_generation(clean):
    peer = await LiveKitPeer.join(clean.url)
    try:
        await peer.control.send(protocol.Prompt("anime"))
        ack = await peer.control.wait_for("prompt_ack")
        assert ack == {"type": "prompt_ack", "prompt": "anime", "success": True, "error": None}
        await peer.control.send(protocol.Prompt("an NSFW thing"))
        rejected = await peer.control.wait_for("prompt_ack", where=lambda m: m["prompt"] == "an NSFW thing")
        assert rejected["success"] is False and "moderation" in rejected["error"]
        await peer.connect()
        await peer.publish(320, 240)
        await peer.wait_frames(5)
        await peer.control.wait_for("generation_tick")
        assert clean.streams[0].state.prompt == "anime"
        assert "session_id" not in peer.control.types()  # a legacy message, not sent in this generation
    finally:
        await _closed(clean, peer)


async def test_join_with_initial_state_or_passthrough_as_js_sends_it(clean):
    join = protocol.LiveKitJoin(passthrough=False, initial_state=protocol.Prompt("sketch"),
                                client_capabilities={"frame_timing": True})
    peer = await LiveKitPeer.join(clean.url, join)
    try:
        # applied before the room info, without an ack (JS sends the state again and awaits that ack)
        assert clean.streams[0].state.prompt == "sketch" and "prompt_ack" not in peer.control.types()
    finally:
        await _closed(clean, peer)
    peer = await LiveKitPeer.join(clean.url, protocol.LiveKitJoin(passthrough=True))
    try:
        assert clean.streams[0].state.is_passthrough
    finally:
        await _closed(clean, peer)


async def test_bad_tokens_and_rooms_get_the_livekit_errors(clean):
    server = clean
    peer = await LiveKitPeer.join(server.url)
    room, url = peer.info["room_name"], peer.info["livekit_url"]
    tokens = server._state.room_tokens
    forged = jwt.encode({"iss": "decart-local", "sub": "x", "exp": int(time.time()) + 60,
                         "video": {"roomJoin": True, "room": room}}, "not-the-secret-" * 3, algorithm="HS256")
    cases = [
        (forged, "401 Unauthorized - invalid authorization token: Signature verification failed"),
        (tokens.mint(room, "late", can_publish=True, ttl=-60), "401 Unauthorized - invalid authorization token: Signature has expired"),
        (tokens.mint("no-such-room", "x", can_publish=True), "404 Not Found - requested room does not exist"),
        ("not-a-jwt", "401 Unauthorized - invalid authorization token"),
    ]
    try:
        for token, error in cases:
            viewer = RoomViewer()
            with pytest.raises(rtc.ConnectError, match=error):
                await viewer.connect(url, token)
            await viewer.close()
        # the server kept serving: the real token still works
        await peer.connect()
        await peer.publish(320, 240)
        await peer.wait_frames(3)
    finally:
        await _closed(server, peer)


async def test_two_watchers_receive_the_session(clean):
    server = clean
    peer = await _session(server, width=320, height=240, frames=3)
    watchers = [RoomViewer(), RoomViewer()]
    try:
        for watcher in watchers:
            status, body = await watch_token(server.http_url, peer.info["room_name"])
            assert status == 200 and body["room_name"] == peer.info["room_name"]
            await watcher.connect(body["livekit_url"], body["token"])
        for watcher in watchers:
            await watcher.wait_frames(5)
        assert len(server.peer_connections) == 6
    finally:
        await _closed(server, peer)
        # the session ended: the room is deleted and the watchers are told so
        for watcher in watchers:
            await asyncio.wait_for(watcher.disconnected.wait(), 10)
            await watcher.close()
    assert watchers[0].disconnect_reason == rtc.DisconnectReason.ROOM_DELETED


async def test_watch_stream_refusals(clean):
    peer = await LiveKitPeer.join(clean.url)
    try:
        status, body = await watch_token(clean.http_url, "no-such-room")
        assert status == 404 and "no running session" in body["error"]
    finally:
        await _closed(clean, peer)
    async with LocalServer(model="passthrough", valid_keys={"right"}) as keyed:
        peer = await LiveKitPeer.join(keyed.url, api_key="right")
        try:
            status, body = await watch_token(keyed.http_url, peer.info["room_name"], api_key="wrong")
            assert status == 401 and "Invalid API key" in body["error"]
        finally:
            await peer.close()
