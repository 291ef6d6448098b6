"""The LiveKit room's pure parts: the publisher SDP adjustments around aiortc,
the block_media blackhole, and room tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from decart_widgets.server._blackhole import Blackhole, without_candidates
from decart_widgets.server._peer import is_mdns_candidate, without_mdns_candidates
from decart_widgets.server._publish_sdp import finish_answer, prepare_offer, split_sections
from decart_widgets.server._room_tokens import API_KEY, RoomAccessError, RoomTokens

OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1 2",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=mid:0",
    # a leftover receive section of the single-PC attempt: still offers the RID extensions
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=recvonly", "a=rtpmap:96 VP8/90000",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    # the camera, simulcast, its layers offered smallest first, VP8 listed before H264
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 109 114", "a=mid:2", "a=sendonly", "a=msid:- cam-1",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=rtpmap:109 H264/90000", "a=fmtp:109 profile-level-id=42e01f;packetization-mode=1",
    "a=rtpmap:114 rtx/90000", "a=fmtp:114 apt=109",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=rid:q send", "a=rid:f send", "a=rid:h send", "a=simulcast:send q;f;h",
]) + "\r\n"


def _answer_for(offer: str) -> str:
    """What aiortc answers, roughly: the offer's sections, no RID lines, no rid extensions."""
    _, sections = split_sections(offer)
    lines = ["v=0", "o=- 3 4 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    for section in sections:
        lines += [line for line in section if not line.startswith(("a=rid:", "a=simulcast:", "a=msid:"))
                  and "rtp-stream-id" not in line]
    return "\r\n".join(lines) + "\r\n"


def test_publisher_offer_and_answer_around_aiortc():
    offer, plan = prepare_offer(OFFER, lambda track_id: "video/H264" if track_id == "cam-1" else None)
    _, sections = split_sections(offer)
    camera = sections[2]
    assert not any(line.startswith(("a=rid:", "a=simulcast:")) for line in camera)
    assert camera[0].split()[3:] == ["109", "96", "97", "114"]  # H264 first: the client encodes that
    rtpmaps = [line.split()[0] for line in camera if line.startswith("a=rtpmap:")]
    assert rtpmaps == ["a=rtpmap:109", "a=rtpmap:96", "a=rtpmap:97", "a=rtpmap:114"]  # aiortc's order
    assert plan.layers == {"2": "f"}  # the full layer, whatever order it was offered in

    answer = finish_answer(_answer_for(offer), plan)
    _, sections = split_sections(answer)
    leftover, camera = sections[1], sections[2]
    for section in (leftover, camera):  # libwebrtc builds later sections from these
        assert "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" in section
    assert "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" in leftover
    assert camera[-2:] == ["a=rid:f recv", "a=simulcast:recv f"]
    assert not any(line.startswith("a=rid:") for line in leftover)
    hinted = [line for line in camera if line.startswith(("a=fmtp:109", "a=fmtp:96"))]
    assert len(hinted) == 2 and all("x-google-start-bitrate=2500" in line for line in hinted)
    assert "a=fmtp:109 profile-level-id=42e01f;packetization-mode=1;x-google-start-bitrate" in answer


def test_without_simulcast_or_codec_request_the_offer_is_kept():
    plain = OFFER.replace("a=rid:q send\r\na=rid:f send\r\na=rid:h send\r\na=simulcast:send q;f;h\r\n", "")
    offer, plan = prepare_offer(plain, lambda track_id: None)
    assert offer == plain and plan.layers == {}
    assert "a=rid:" not in finish_answer(_answer_for(offer), plan)


@pytest.mark.parametrize("layers, best", [(["h", "q"], "h"), (["q"], "q"), (["a", "b"], "a")])
def test_best_layer_without_a_full_one(layers, best):
    sdp = OFFER.replace("a=rid:q send\r\na=rid:f send\r\na=rid:h send\r\na=simulcast:send q;f;h",
                        "\r\n".join(f"a=rid:{r} send" for r in layers) + f"\r\na=simulcast:send {';'.join(layers)}")
    assert prepare_offer(sdp, lambda track_id: None)[1].layers == {"2": best}


def test_blackhole_points_every_candidate_at_a_silent_port():
    hole = Blackhole()
    try:
        sdp = "\r\n".join([
            "m=video 50000 UDP/TLS/RTP/SAVPF 96",
            "a=candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host",
            "a=candidate:2 1 udp 2130706431 ::1 50001 typ host",
            "a=end-of-candidates",
        ]) + "\r\n"
        out = hole.rewrite(sdp)
        assert f"a=candidate:1 1 udp 2130706431 192.0.2.2 {hole.port} typ host" in out
        assert "::1" not in out and "a=end-of-candidates" in out
        assert without_candidates(sdp) == "m=video 50000 UDP/TLS/RTP/SAVPF 96\r\n"
    finally:
        hole.close()
        hole.close()  # idempotent


def test_room_tokens_round_trip_and_refusals():
    tokens = RoomTokens()
    grant = tokens.verify(tokens.mint("room-a", "viewer-1", can_publish=False))
    assert (grant.identity, grant.room, grant.can_publish, grant.can_subscribe) == ("viewer-1", "room-a", False, True)
    claims = jwt.decode(tokens.mint("room-a", "c", can_publish=True), options={"verify_signature": False})
    assert claims["iss"] == API_KEY and claims["video"]["roomJoin"] is True  # LiveKit's claim layout

    def refused(token):
        with pytest.raises(RoomAccessError) as exc:
            tokens.verify(token)
        return exc.value.status, exc.value.text

    other = RoomTokens().mint("room-a", "x", can_publish=True)
    assert refused(other) == (401, "invalid authorization token: Signature verification failed")
    assert refused(None) == (401, "permissions denied")
    assert refused("x.y") == (401, "invalid authorization token")
    secret = tokens._secret
    now = int(time.time())
    assert refused(jwt.encode({"iss": "someone", "sub": "x", "exp": now + 60}, secret, "HS256")) == (401, "invalid API key")
    no_join = jwt.encode({"iss": API_KEY, "sub": "x", "exp": now + 60, "video": {"room": "r"}}, secret, "HS256")
    assert refused(no_join) == (401, "permissions denied")
    no_room = jwt.encode({"iss": API_KEY, "sub": "x", "exp": now + 60, "video": {"roomJoin": True}}, secret, "HS256")
    assert refused(no_room) == (400, "no room name")


def test_mdns_candidates_are_skipped_before_aiortc_sees_them():
    sdp = "\r\n".join([
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:1 1 udp 2122260223 4b8a5be1-70a3-4ee5-9863-eb5e7d7ed990.local 54400 typ host generation 0",
        "a=candidate:2 1 udp 2122260223 192.0.2.7 54401 typ host generation 0",
    ]) + "\r\n"
    kept = without_mdns_candidates(sdp)
    assert ".local" not in kept and "192.0.2.7 54401" in kept
    assert is_mdns_candidate("1 1 udp 2122260223 ab.local 1 typ host")
    assert not is_mdns_candidate("1 1 udp 2122260223 10.0.0.1 1 typ host") and not is_mdns_candidate("")
