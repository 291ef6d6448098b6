import json

import pytest

from decart_widgets import protocol as P


@pytest.mark.parametrize(
    "msg, wire",
    [
        (P.Prompt("a cat"), {"type": "prompt", "prompt": "a cat", "enhance_prompt": True}),
        (P.Prompt("a cat", False), {"type": "prompt", "prompt": "a cat", "enhance_prompt": False}),
        (P.SetImage(None), {"type": "set_image", "image_data": None, "prompt": None}),
        (P.SetImage("QUJD"), {"type": "set_image", "image_data": "QUJD"}),
        (P.SetImage("QUJD", "x", True), {"type": "set_image", "image_data": "QUJD", "prompt": "x", "enhance_prompt": True}),
        (P.SetImage(None, "keep", False), {"type": "set_image", "image_data": None, "prompt": "keep", "enhance_prompt": False}),
        (P.Offer("v=0"), {"type": "offer", "sdp": "v=0"}),
        (P.Answer("v=0"), {"type": "answer", "sdp": "v=0"}),
        (P.IceCandidate(None), {"type": "ice-candidate", "candidate": None}),
        (
            P.IceCandidate({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMLineIndex": 0, "sdpMid": "0"}),
            {"type": "ice-candidate", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMLineIndex": 0, "sdpMid": "0"}},
        ),
        (P.SessionId("s1", "127.0.0.1", 8000), {"type": "session_id", "session_id": "s1", "server_ip": "127.0.0.1", "server_port": 8000}),
        (P.PromptAck("p", True), {"type": "prompt_ack", "prompt": "p", "success": True, "error": None}),
        (P.SetImageAck(False, "bad"), {"type": "set_image_ack", "success": False, "error": "bad"}),
        (P.GenerationStarted(), {"type": "generation_started"}),
        (P.GenerationTick(3), {"type": "generation_tick", "seconds": 3}),
        (P.GenerationEnded(4, "insufficient_credits"), {"type": "generation_ended", "seconds": 4, "reason": "insufficient_credits"}),
        (P.Error("boom"), {"type": "error", "error": "boom"}),
        (P.Ready(), {"type": "ready"}),
        (P.IceRestart(), {"type": "ice-restart"}),
        (P.LiveKitJoin(), {"type": "livekit_join"}),
        (P.LiveKitJoin(passthrough=True), {"type": "livekit_join", "passthrough": True}),
        (
            P.LiveKitJoin(False, P.Prompt("a cat"), {"frame_timing": True}),
            {"type": "livekit_join", "passthrough": False, "client_capabilities": {"frame_timing": True},
             "initial_state": {"type": "prompt", "prompt": "a cat", "enhance_prompt": True}},
        ),
        (
            P.LiveKitJoin(initial_state=P.SetImage("QUJD", "p")),
            {"type": "livekit_join", "initial_state": {"type": "set_image", "image_data": "QUJD", "prompt": "p"}},
        ),
        (
            P.LiveKitRoomInfo("ws://127.0.0.1:8000", "jwt", "room-1", "s1"),
            {"type": "livekit_room_info", "livekit_url": "ws://127.0.0.1:8000", "token": "jwt",
             "room_name": "room-1", "session_id": "s1"},
        ),
        (P.QueuePosition(2, 5), {"type": "queue_position", "position": 2, "queue_size": 5}),
    ],
)
def test_encode_exact_and_round_trip(msg, wire):
    assert json.loads(P.encode(msg)) == wire
    assert P.parse(P.encode(msg)) == msg


def test_unknown_type_and_fields_are_ignored():
    assert P.parse('{"type": "livekit_leave", "x": 1}') is None
    msg = P.parse('{"type": "generation_tick", "seconds": 5, "extra": {"a": 1}}')
    assert msg == P.GenerationTick(5)


@pytest.mark.parametrize(
    "text",
    [
        "not json", "", "[]", "null", "42", '{"no_type": 1}', '{"type": 7}',
        '{"type": "prompt_ack"}', '{"type": "prompt_ack", "prompt": 1, "success": true}',
        '{"type": "generation_tick", "seconds": "five"}', '{"type": "answer", "sdp": null}',
        '{"type": "ice-candidate", "candidate": "nope"}', '{"type": "set_image_ack", "success": "yes"}',
        '{"type": "livekit_room_info", "x": 1}', '{"type": "livekit_room_info", "livekit_url": "ws://h", "token": null, "room_name": "r", "session_id": "s"}',
        '{"type": "queue_position", "position": "1", "queue_size": 3}', '{"type": "queue_position", "position": 1}',
        '{"type": "livekit_join", "passthrough": "yes"}',
        b"\xff\xfe",
    ],
)
def test_malformed_messages_give_none_never_raise(text):
    assert P.parse(text) is None


def test_null_and_empty_candidates_mean_end():
    assert P.parse('{"type": "ice-candidate", "candidate": null}').is_end
    assert P.parse('{"type": "ice-candidate", "candidate": {"candidate": ""}}').is_end
    js = P.parse('{"type":"ice-candidate","candidate":{"candidate":"candidate:1 1 udp 2 1.2.3.4 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"ab"}}')
    assert not js.is_end and js.candidate["sdpMid"] == "0"


def test_set_image_passthrough_flag():
    assert P.SetImage(None).is_passthrough
    assert not P.SetImage(None, "p").is_passthrough
    parsed = P.parse('{"type": "set_image", "image_data": null, "prompt": null}')
    assert parsed.is_passthrough and parsed.enhance_prompt is None


def test_livekit_join_as_each_official_client_sends_it():
    # Python 0.2.x: bare; JS 0.1.6: initial_state (maybe null); JS 0.1.14+: passthrough (+ capabilities)
    assert P.parse('{"type": "livekit_join"}') == P.LiveKitJoin()
    assert P.parse('{"type": "livekit_join", "initial_state": null}') == P.LiveKitJoin()
    js016 = P.parse('{"type":"livekit_join","initial_state":{"type":"set_image","image_data":"QUJD","prompt":"x","enhance_prompt":false}}')
    assert js016.initial_state == P.SetImage("QUJD", "x", False)
    js020 = P.parse('{"type":"livekit_join","passthrough":true,"client_capabilities":{"frame_timing":true},"extra":1}')
    assert js020 == P.LiveKitJoin(True, None, {"frame_timing": True})
    assert P.parse('{"type":"livekit_join","passthrough":null}') == P.LiveKitJoin()


@pytest.mark.parametrize("bad", ['"text"', '42', '{"type": "offer", "sdp": "v=0"}', '{"type": "prompt"}', '{"no": 1}'])
def test_livekit_join_with_bad_initial_state_keeps_the_join(bad):
    msg = P.parse('{"type": "livekit_join", "passthrough": false, "initial_state": ' + bad + '}')
    assert msg == P.LiveKitJoin(passthrough=False)


def test_room_info_and_queue_position_tolerate_extra_fields():
    info = P.parse('{"type":"livekit_room_info","livekit_url":"wss://x","token":"t","room_name":"r","session_id":"s","ttl":9}')
    assert info == P.LiveKitRoomInfo("wss://x", "t", "r", "s")
    assert P.parse('{"type":"queue_position","position":3.0,"queue_size":4,"eta":1}') == P.QueuePosition(3, 4)
