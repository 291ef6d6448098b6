"""The local server, driven by a raw WebSocket + aiortc client (tests/_raw_client.py)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone

import aiohttp
import pytest
from _raw_client import PatternTrack, RawClient
from _server_helpers import (
    png_base64,
    port_is_open,
    streaming_client,
)

from decart_widgets import protocol
from decart_widgets.server import LocalServer

pytestmark = pytest.mark.timeout(40)


# -- construction -------------------------------------------------------------


def test_constructor_validates_arguments():
    with pytest.raises(ValueError, match="non-loopback"):
        LocalServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="non-loopback"):
        LocalServer(host="0.0.0.0", valid_keys=set())
    LocalServer(host="0.0.0.0", valid_keys={"secret"}, model="passthrough")  # allowed, not started
    with pytest.raises(TypeError, match="callable"):
        LocalServer(model=42)
    with pytest.raises(TypeError, match="passthrough"):
        LocalServer(model="sketchy")
    with pytest.raises(TypeError):
        LocalServer(modle="passthrough")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="single string"):
        LocalServer(valid_keys="secret")
    with pytest.raises(ValueError, match="tick_interval"):
        LocalServer(tick_interval=0)
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalServer(model="passthrough").url


async def test_addresses(local_server):
    assert local_server.host == "127.0.0.1"
    assert local_server.port > 0
    assert local_server.url == f"ws://127.0.0.1:{local_server.port}"
    assert local_server.http_url == f"http://127.0.0.1:{local_server.port}"
    assert port_is_open(local_server.port)


# -- initial state flows --------------------------------------------------------


async def test_prompt_then_offer(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("sketch of a cat", enhance_prompt=False))
        ack = await client.wait_for("prompt_ack")
        assert ack == {"type": "prompt_ack", "prompt": "sketch of a cat", "success": True, "error": None}
        await client.start_media(PatternTrack())
        answer = client.of_type("answer")[0]["sdp"]
        # the server's candidates are inside the answer, loopback only
        candidates = re.findall(r"^a=candidate:.*$", answer, re.MULTILINE)
        assert candidates and all(" 127.0.0.1 " in c for c in candidates)
        assert "x-google-start-bitrate=2500" in answer
        session = await client.wait_for("session_id")
        assert isinstance(session["session_id"], str) and len(session["session_id"]) >= 16
        assert session["server_ip"] == "127.0.0.1"
        assert session["server_port"] == local_server.port and isinstance(session["server_port"], int)
        await client.wait_frames(5)
        await client.wait_for("generation_started")
        (info,) = local_server.streams
        assert info.session_id == session["session_id"]
        assert info.model == "lucy-2.1"
        assert info.state.prompt == "sketch of a cat" and info.state.enhance is False
        assert info.generating and info.frames_out >= 5
        assert "ready" not in client.types()
        assert client.types().index("answer") < client.types().index("session_id")


async def test_answer_prefers_vp8_even_when_the_offer_prefers_h264(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack(), prefer="video/H264")
        offer_video = re.search(r"^m=video \d+ \S+ (.*)$", client.pc.localDescription.sdp, re.MULTILINE)
        assert offer_video and re.search(rf"^a=rtpmap:{offer_video.group(1).split()[0]} H264/",
                                         client.pc.localDescription.sdp, re.MULTILINE)
        answer = client.of_type("answer")[0]["sdp"]
        video = re.search(r"^m=video \d+ \S+ (.*)$", answer, re.MULTILINE)
        assert video is not None
        first_pt = video.group(1).split()[0]
        assert re.search(rf"^a=rtpmap:{first_pt} VP8/90000", answer, re.MULTILINE)


async def test_set_image_with_prompt_then_offer(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.SetImage(png_base64(64, 48), prompt="neon city", enhance_prompt=True))
        assert await client.wait_for("set_image_ack") == {"type": "set_image_ack", "success": True, "error": None}
        state = local_server.streams[0].state
        assert state.prompt == "neon city"
        assert state.image is not None and state.image.shape == (48, 64, 3)
        assert tuple(state.image[0, 0]) == (200, 30, 160)  # decoded as RGB
        await client.start_media(PatternTrack())
        await client.wait_frames(3)


async def test_data_url_image_is_tolerated(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send({"type": "set_image", "image_data": "data:image/png;base64," + png_base64()})
        assert (await client.wait_for("set_image_ack"))["success"] is True
        assert local_server.streams[0].state.image is not None


async def test_passthrough_set_image(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("anime"))
        await client.wait_for("prompt_ack")
        await client.send(protocol.SetImage(None, None))  # both null: passthrough
        assert (await client.wait_for("set_image_ack"))["success"] is True
        assert local_server.streams[0].state.is_passthrough
        await client.start_media(PatternTrack())
        await client.wait_frames(3)


async def test_set_image_without_prompt_keeps_the_prompt(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("anime"))
        await client.wait_for("prompt_ack")
        await client.send({"type": "set_image", "image_data": png_base64()})  # no prompt key
        await client.wait_for("set_image_ack")
        state = local_server.streams[0].state
        assert state.prompt == "anime" and state.image is not None
        mark = client.mark()
        await client.send({"type": "set_image", "image_data": None})  # clears the image only
        await client.wait_for("set_image_ack", since=mark)
        state = local_server.streams[0].state
        assert state.prompt == "anime" and state.image is None


async def test_offer_with_no_initial_state(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack())
        await client.wait_for("session_id")
        await client.wait_frames(3)
        await client.wait_for("generation_started")
        assert local_server.streams[0].state.is_passthrough


async def test_state_changes_later_and_acks_in_order(local_server):
    async with await streaming_client(local_server.url) as client:
        for text in ("one", "two", "three"):
            await client.send(protocol.Prompt(text))
        await client.send(protocol.SetImage(png_base64()))
        await client.wait_for("set_image_ack")
        acks = [m.get("prompt", "<image>") for m in client.messages if m["type"].endswith("_ack")]
        assert acks == ["one", "two", "three", "<image>"]
        assert local_server.streams[0].state.prompt == "three"
        assert local_server.streams[0].state.version == 4


async def test_bad_image_data_is_rejected_and_state_kept(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("anime"))
        await client.wait_for("prompt_ack")
        await client.send(protocol.SetImage("***not base64***", prompt="neon"))
        ack = await client.wait_for("set_image_ack")
        assert ack["success"] is False and "base64" in ack["error"]
        mark = client.mark()
        await client.send(protocol.SetImage("aGVsbG8gd29ybGQ=", prompt="neon"))  # base64 of "hello world"
        ack = await client.wait_for("set_image_ack", since=mark)
        assert ack["success"] is False and "decodable image" in ack["error"]
        state = local_server.streams[0].state
        assert state.prompt == "anime" and state.image is None and state.version == 1


# -- ICE ------------------------------------------------------------------------


def _server_remote_candidates(server: LocalServer) -> list[object]:
    (pc,) = server.peer_connections
    ice = pc.getTransceivers()[0].receiver.transport.transport
    return [c for c in ice.getRemoteCandidates() if c.type != "prflx"]


async def test_trickled_candidates_after_the_offer_then_null(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack(), trickle=True)
        await client.wait_frames(3)
        events = [e for e in local_server.events if e["type"] == "ice-candidate"]
        assert events and events[-1]["end"] is True
        assert len(_server_remote_candidates(local_server)) == client.trickled > 0


async def test_candidates_before_the_offer_are_queued(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack(), candidates_first=True)
        await client.wait_frames(3)
        types = [e["type"] for e in local_server.events if e["source"] == "client"]
        assert types.index("ice-candidate") < types.index("offer")
        # applied once the offer was: the server's ICE agent knows every one of them
        assert len(_server_remote_candidates(local_server)) == client.trickled > 0


async def test_empty_candidate_string_ends_candidates(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.start_media(PatternTrack(), trickle=True, end_of_candidates=False)
        await client.send({"type": "ice-candidate", "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})
        await client.wait_frames(3)


async def test_ready_and_answer_from_client_are_ignored(local_server):
    async with await streaming_client(local_server.url) as client:
        await client.send({"type": "ready"})
        await client.send(protocol.Answer("v=0\r\n"))  # no server offer pending
        before = client.frames
        await client.wait_frames(before + 3)
        assert local_server.streams


# -- robustness -------------------------------------------------------------------


async def test_garbage_then_a_working_session_on_the_same_socket(local_server):
    async with await RawClient.open(local_server.url) as client:
        for junk in ("not json", "[1, 2]", "null", '{"type": 5}', '{"type": "prompt"}',
                     '{"type": "prompt", "prompt": 5}', '{"type": "set_image", "image_data": 7}',
                     '{"type": "no_such_type", "x": 1}', '{"type": "ice-candidate", "candidate": "bad"}',
                     '{"type": "ice-candidate", "candidate": {"candidate": "candidate:garbage"}}',
                     '{"type": "offer", "sdp": "garbage"}', '{"type": "answer", "sdp": "garbage"}', "{" * 500):
            await client.send(junk)
        await client.ws.send_bytes(b"\x00\x01binary")
        error = await client.wait_for("error")  # the garbage offer is answered with an error, not a crash
        assert "offer" in error["error"]
        assert local_server.peer_connections == []  # the failed offer left no peer connection
        await client.send(protocol.Prompt("sketch", enhance_prompt=True))
        assert (await client.wait_for("prompt_ack"))["prompt"] == "sketch"
        await client.start_media(PatternTrack())
        await client.wait_frames(3)
        assert not client.closed.is_set()
        assert any(e["type"] == "malformed_json" for e in local_server.events)


async def test_unknown_model_names_are_accepted_but_malformed_ones_rejected(local_server):
    for name in ("lucy-2.6", "mirage_v2", "lucy_2_rt", "my-custom-model"):
        async with await RawClient.open(local_server.url, model=name) as client:
            await client.send(protocol.Prompt("x"))
            await client.wait_for("prompt_ack")
            assert local_server.streams[0].model == name
    async with await RawClient.open(local_server.url, model="bad name!") as client:
        assert "model" in (await client.wait_for("error"))["error"].lower()
        await client.wait_closed()


async def test_custom_url_path_is_served(local_server):
    async with await RawClient.open(local_server.url, path="/v1/my-model") as client:
        await client.send(protocol.Prompt("x"))
        await client.wait_for("prompt_ack")


# -- keys ---------------------------------------------------------------------------


async def test_any_nonempty_key_by_default_but_not_an_empty_one(local_server):
    async with await RawClient.open(local_server.url, api_key="whatever") as client:
        await client.send(protocol.Prompt("x"))
        await client.wait_for("prompt_ack")
    for key in ("", None):
        async with await RawClient.open(local_server.url, api_key=key) as client:
            error = (await client.wait_for("error"))["error"].lower()
            assert "invalid api key" in error and "401" in error
            await client.wait_closed()


async def test_valid_keys_reject_others_like_production():
    async with LocalServer(model="passthrough", valid_keys={"good-key"}) as server:
        async with await RawClient.open(server.url, api_key="bad-key") as client:
            error = (await client.wait_for("error"))["error"]
            assert "invalid api key" in error.lower() and "401" in error
            await client.wait_closed()
            assert client.types() == ["error"]
        async with await RawClient.open(server.url, api_key="good-key") as client:
            await client.send(protocol.Prompt("x"))
            await client.wait_for("prompt_ack")


async def test_keys_never_reach_the_logs(local_server, caplog):
    caplog.set_level(logging.DEBUG)
    async with await RawClient.open(local_server.url, api_key="sk-very-secret-123") as client:
        await client.send(protocol.Prompt("x"))
        await client.wait_for("prompt_ack")
    assert "sk-very-secret-123" not in caplog.text
    assert "api_key=***" in caplog.text


# -- client tokens ---------------------------------------------------------------------


async def _post_token(server: LocalServer, key: str | None, body: object = None, raw: str | None = None):
    headers = {} if key is None else {"X-API-KEY": key}
    async with aiohttp.ClientSession() as http:
        kwargs = {"data": raw, "headers": {**headers, "Content-Type": "application/json"}} if raw is not None \
            else {"json": body if body is not None else {}, "headers": headers}
        async with http.post(f"{server.http_url}/v1/client/tokens", **kwargs) as resp:
            return resp.status, await resp.json()


async def test_token_endpoint_issues_tokens_for_valid_keys_only():
    async with LocalServer(model="passthrough", valid_keys={"perm-key"}) as server:
        status, body = await _post_token(server, "perm-key", {
            "expiresIn": 120, "allowedModels": ["lucy-2.1"], "allowedOrigins": ["https://example.com"],
            "constraints": {"realtime": {"maxSessionDuration": 300}}, "metadata": {"role": "viewer"}})
        assert status == 200
        assert body["apiKey"].startswith("ek_") and len(body["apiKey"]) > 20
        assert body["token"].count(".") == 2
        expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
        assert abs((expires - datetime.now(timezone.utc)).total_seconds() - 120) < 5
        assert body["permissions"]["models"] == ["lucy-2.1"]
        assert body["constraints"] == {"realtime": {"maxSessionDuration": 300}}
        status, default = await _post_token(server, "perm-key")
        assert status == 200
        lifetime = datetime.fromisoformat(default["expiresAt"].replace("Z", "+00:00")) - datetime.now(timezone.utc)
        assert 55 < lifetime.total_seconds() <= 60
        for key in ("wrong", None, body["apiKey"]):  # a token cannot mint tokens
            status, error = await _post_token(server, key)
            assert status == 401 and "401" in error["error"]
        for bad in (0, 3601, "60", 1.5, True, -5):
            status, error = await _post_token(server, "perm-key", {"expiresIn": bad})
            assert status == 400 and "expiresIn" in error["error"]
        status, error = await _post_token(server, "perm-key", {"allowedModels": "lucy-2.1"})
        assert status == 400
        status, error = await _post_token(server, "perm-key", raw="{not json")
        assert status == 400


async def test_tokens_are_realtime_keys_with_model_limits_and_expiry():
    async with LocalServer(model="passthrough", valid_keys={"perm-key"}) as server:
        _, limited = await _post_token(server, "perm-key", {"allowedModels": ["lucy-2.1"]})
        for key in (limited["apiKey"], limited["token"]):
            async with await RawClient.open(server.url, api_key=key, model="lucy-2.1") as client:
                await client.send(protocol.Prompt("x"))
                await client.wait_for("prompt_ack")
        async with await RawClient.open(server.url, api_key=limited["apiKey"], model="lucy-2.5") as client:
            error = (await client.wait_for("error"))["error"]
            assert "not allowed" in error and "lucy-2.5" in error
            await client.wait_closed()

        _, short = await _post_token(server, "perm-key", {"expiresIn": 1})
        running = await RawClient.open(server.url, api_key=short["apiKey"])
        try:
            await running.send(protocol.Prompt("before expiry"))
            await running.wait_for("prompt_ack")
            await asyncio.sleep(1.1)
            mark = running.mark()
            await running.send(protocol.Prompt("after expiry"))  # a running session outlives its token
            await running.wait_for("prompt_ack", since=mark)
            async with await RawClient.open(server.url, api_key=short["apiKey"]) as late:
                error = (await late.wait_for("error"))["error"].lower()
                assert "expired" in error and "401" in error
                await late.wait_closed()
        finally:
            await running.close()


# -- subscribe --------------------------------------------------------------------------


async def test_subscriber_receives_the_running_session(local_server):
    async with await streaming_client(local_server.url, prompt="anime") as main:
        session = await main.wait_for("session_id")
        path = f"/subscribe/{session['session_id']}"
        async with await RawClient.open(local_server.url, path=path, model=None,
                                        IP=session["server_ip"], port=str(session["server_port"])) as viewer:
            await viewer.start_media(None)  # recvonly video + audio
            await viewer.wait_frames(5)
            before = main.frames
            await main.wait_frames(before + 5)  # the main client keeps its own frames
            assert local_server.streams[0].subscribers == 1
            assert len(local_server.peer_connections) == 2
        await local_server.wait_for_event(lambda e: e["type"] == "subscriber_closed")
        assert len(local_server.peer_connections) == 1


async def test_subscribe_to_an_unknown_session_is_rejected(local_server):
    async with await RawClient.open(local_server.url, path="/subscribe/nope", model=None) as viewer:
        error = (await viewer.wait_for("error"))["error"]
        assert "invalid session" in error.lower()
        await viewer.wait_closed()


async def test_subscribers_end_with_their_stream(local_server):
    main = await streaming_client(local_server.url)
    session = await main.wait_for("session_id")
    async with await RawClient.open(local_server.url, path=f"/subscribe/{session['session_id']}",
                                    model=None) as viewer:
        await viewer.start_media(None)
        await viewer.wait_frames(2)
        await main.close()
        await viewer.wait_closed()
    assert local_server.peer_connections == []
