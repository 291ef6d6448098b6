"""The LiveKit signal endpoint, message by message, with a raw protobuf
client (no rtc SDK): the join response, pings, refusals with LiveKit's errors,
and bad input (garbage protobuf, text frames, silence, a client that never
offers or vanishes mid-negotiation), each ending cleanly with nothing left."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import pytest
from _raw_client import RawClient
from _server_helpers import settle_tasks
from aiortc import RTCPeerConnection
from livekit.protocol import models, rtc

from decart_widgets import protocol
from decart_widgets.server import LocalServer
from decart_widgets.server import _signal as signal_module

pytestmark = pytest.mark.timeout(40)


class SignalClient:
    """One /rtc WebSocket, speaking SignalRequest/SignalResponse by hand."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws

    @classmethod
    async def open(cls, url: str, token: str, *, header: bool = True, **query: str) -> SignalClient:
        http = aiohttp.ClientSession()
        params = {"protocol": "16", "auto_subscribe": "1", **query}
        headers = {}
        if header:
            headers["Authorization"] = f"Bearer {token}"
        else:
            params["access_token"] = token
        try:
            ws = await http.ws_connect(f"{url}/rtc", params=params, headers=headers)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def send(self, **message: Any) -> None:
        await self.ws.send_bytes(rtc.SignalRequest(**message).SerializeToString())

    async def receive(self, timeout: float = 5.0) -> rtc.SignalResponse | None:
        """The next response, or None when the socket closed."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.BINARY:
            return None
        response = rtc.SignalResponse()
        response.ParseFromString(msg.data)
        return response

    async def next_of(self, kind: str, timeout: float = 5.0) -> Any:
        while True:
            response = await self.receive(timeout)
            assert response is not None, f"socket closed before a {kind!r} response"
            if response.WhichOneof("message") == kind:
                return getattr(response, kind)

    async def until_closed(self, timeout: float = 5.0) -> list[str]:
        """The kinds of the responses before the server closed the socket."""
        kinds = []
        while (response := await self.receive(timeout)) is not None:
            kinds.append(response.WhichOneof("message"))
        return kinds

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


@pytest.fixture
async def server():
    async with LocalServer(model="passthrough") as srv:
        yield srv
    assert srv.peer_connections == [] and srv.rooms == []
    assert await settle_tasks() == []


@pytest.fixture
async def session(server):
    """A LiveKit-generation control socket and its ``livekit_room_info``."""
    control = await RawClient.open(server.url)
    await control.send(protocol.LiveKitJoin())
    info = await control.wait_for("livekit_room_info")
    yield control, info
    await control.close()
    await server.wait_for_event(lambda e: e["type"] == "stream_closed")


async def test_join_response_as_the_official_clients_need_it(server, session):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    try:
        join = await client.next_of("join")
        assert join.room.sid.startswith("RM_") and join.room.name == info["room_name"]
        me = join.participant
        assert me.sid.startswith("PA_") and me.state == models.ParticipantInfo.State.ACTIVE
        assert me.permission.can_publish and me.permission.can_subscribe
        assert join.subscriber_primary is False and join.ping_interval > 0 and join.ping_timeout > join.ping_interval
        assert len(join.ice_servers) == 0
        (model,) = join.other_participants
        assert model.identity == "inference-server-local" and model.sid.startswith("PA_")
        assert model.tracks[0].sid.startswith("TR_") and model.tracks[0].type == models.TrackType.VIDEO
    finally:
        await client.close()


async def test_pings_are_answered_and_token_in_the_query_works(server, session):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"], header=False)  # as JS sends it
    try:
        await client.next_of("join")
        await client.send(ping_req=rtc.Ping(timestamp=1234, rtt=5))
        pong = await client.next_of("pong_resp")
        assert pong.last_ping_timestamp == 1234 and abs(pong.timestamp - time.time() * 1000) < 60_000
        await client.send(ping=99)
        assert await client.next_of("pong") > 0
    finally:
        await client.close()


async def test_unhandled_requests_are_logged_once_and_ignored(server, session, caplog):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    try:
        await client.next_of("join")
        with caplog.at_level(logging.INFO, logger="decart_widgets.server._signal"):
            for _ in range(3):
                await client.send(subscription=rtc.UpdateSubscription(track_sids=["TR_x"], subscribe=True))
            await client.send(offer=rtc.SessionDescription(type="offer", sdp="v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", id=1))
            await client.send(ping_req=rtc.Ping(timestamp=7))
            assert (await client.next_of("pong_resp")).last_ping_timestamp == 7  # still served
            assert server.peer_connections == []  # the failed offer left no peer connection
        ignored = [r for r in caplog.records if "ignoring signal request 'subscription'" in r.getMessage()]
        assert len(ignored) == 1
        assert any("could not handle offer" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()


@pytest.mark.parametrize("bad", ["garbage", "text"])
async def test_garbage_and_text_frames_end_the_participant_cleanly(server, session, caplog, bad):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    try:
        await client.next_of("join")
        with caplog.at_level(logging.WARNING, logger="decart_widgets.server._signal"):
            if bad == "garbage":
                await client.ws.send_bytes(b"garbage protobuf \xff\xff")
            else:
                await client.ws.send_str('{"type": "offer"}')
            assert await client.until_closed() == []
            await server.wait_for_event(lambda e: e["type"] == "participant_left")
        expected = "not a protobuf SignalRequest" if bad == "garbage" else "text frame on the LiveKit signal socket"
        assert any(expected in r.getMessage() for r in caplog.records)
        assert server.peer_connections == []
        # the room and the server keep serving: the same token joins again
        again = await SignalClient.open(info["livekit_url"], info["token"])
        assert (await again.next_of("join")).room.name == info["room_name"]
        await again.close()
    finally:
        await client.close()


async def test_refusals_carry_livekit_status_and_text(server, session):
    _, info = session
    url = info["livekit_url"].replace("ws://", "http://")
    tokens = server._state.room_tokens
    cases = [
        ({"Authorization": f"Bearer {tokens.mint('no-such-room', 'x', can_publish=True)}"}, 404,
         "requested room does not exist"),
        ({"Authorization": f"Bearer {tokens.mint(info['room_name'], 'x', can_publish=True, ttl=-30)}"}, 401,
         "invalid authorization token: Signature has expired"),
        ({"Authorization": f"Token {info['token']}"}, 401, "invalid authorization header. Must start with Bearer "),
        ({}, 401, "permissions denied"),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, status, text in cases:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{info['livekit_url']}/rtc", headers=headers)
            assert refused.value.status == status
            async with http.get(f"{url}/rtc/validate", headers=headers) as resp:
                assert (resp.status, await resp.text()) == (status, text)
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
        async with http.get(f"{url}/rtc/validate", params={"access_token": info["token"]}) as resp:
            assert (resp.status, await resp.text()) == (200, "success")
        for path in ("/rtc/v1", "/rtc/v1/validate"):  # no single-PC mode: clients fall back to /rtc
            async with http.get(f"{url}{path}") as resp:
                body = await resp.text()
                assert resp.status == 404 and "requested room does not exist" not in body
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert server.rooms == [info["room_name"]]


async def test_resume_attempts_are_told_to_reconnect_from_scratch(server, session):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"], reconnect="1", sid="PA_old")
    try:
        leave = await client.next_of("leave")
        assert leave.action == rtc.LeaveRequest.Action.RECONNECT
        assert leave.reason == models.DisconnectReason.STATE_MISMATCH and leave.can_reconnect
        assert await client.until_closed() == []
    finally:
        await client.close()


async def test_a_client_that_never_offers_is_closed(server, session, monkeypatch, caplog):
    monkeypatch.setattr(signal_module, "NEGOTIATION_TIMEOUT", 0.5)
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    try:
        await client.next_of("join")
        with caplog.at_level(logging.WARNING, logger="decart_widgets.server._signal"):
            leave = await client.next_of("leave", timeout=5)
            assert leave.action == rtc.LeaveRequest.Action.DISCONNECT
            assert leave.reason == models.DisconnectReason.JOIN_FAILURE
            assert await client.until_closed() == []
        assert any("no publisher offer within" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()


async def test_a_silent_client_is_dropped_after_the_ping_timeout(server, session, monkeypatch, caplog):
    monkeypatch.setattr(signal_module, "IDLE_TIMEOUT", 0.5)
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    try:
        with caplog.at_level(logging.WARNING, logger="decart_widgets.server._signal"):
            assert await client.until_closed() == ["join"]
        assert any("no signal message for" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()


async def test_a_client_that_vanishes_mid_negotiation_leaves_nothing(server, session):
    _, info = session
    client = await SignalClient.open(info["livekit_url"], info["token"])
    pc = RTCPeerConnection()
    try:
        await client.next_of("join")
        pc.createDataChannel("_reliable")
        await pc.setLocalDescription(await pc.createOffer())
        await client.send(offer=rtc.SessionDescription(type="offer", sdp=pc.localDescription.sdp, id=1))
        transport = client.ws._response.connection.transport  # type: ignore[union-attr]
        transport.abort()  # gone without a close frame, while the server answers
        await server.wait_for_event(lambda e: e["type"] == "participant_left", timeout=10)
        assert server.peer_connections == []
        # the session (control socket, room) is untouched and serves a new participant
        again = await SignalClient.open(info["livekit_url"], info["token"])
        await again.next_of("join")
        await again.close()
    finally:
        await pc.close()
        await client.close()


async def test_a_second_join_with_the_same_identity_replaces_the_first(server, session):
    _, info = session
    first = await SignalClient.open(info["livekit_url"], info["token"])
    second = None
    try:
        await first.next_of("join")
        second = await SignalClient.open(info["livekit_url"], info["token"])
        await second.next_of("join")
        leave = await first.next_of("leave")
        assert leave.reason == models.DisconnectReason.DUPLICATE_IDENTITY
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_livekit_join_on_a_legacy_socket_is_ignored_and_vice_versa(server, caplog):
    control = await RawClient.open(server.url)
    try:
        await control.send(protocol.LiveKitJoin())
        await control.wait_for("livekit_room_info")
        with caplog.at_level(logging.WARNING, logger="decart_widgets.server._stream"):
            await control.send(protocol.Offer("v=0"))
            await server.wait_for_event(lambda e: e["type"] == "ignored_media_message")
        assert server.streams[0].generation == "livekit" and "answer" not in control.types()
        assert sum("one generation per socket" in r.getMessage() for r in caplog.records) == 1
    finally:
        await control.close()
    await server.wait_for_event(lambda e: e["type"] == "stream_closed")
