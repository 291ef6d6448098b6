"""WebRTC helpers shared by the client, the local server and the widget's
browser link: loopback-only ICE, codec preference, SDP bitrate hints.

Why loopback ICE: aioice leaves 127.0.0.1 out of its host candidates, so two
aiortc peers on a loopback-only machine cannot connect, and on a machine with
other interfaces loopback peers would pair (and probe) every interface. While
:func:`loopback_ice` is active in the calling task, candidate gathering offers
only the loopback address. Gathering runs in tasks spawned from the caller's
context, so a ContextVar reaches it without touching other connections.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import aioice.ice
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpSender,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from . import (
    feedback,  # noqa: F401 - NACK/PLI that do not feed an overload
    ice,  # noqa: F401 - ICE done when its checks are, not at the next 20 ms tick
    jitter,  # noqa: F401 - releases complete video frames without waiting a frame
)

__all__ = [
    "loopback_ice",
    "is_loopback_host",
    "new_peer_connection",
    "prefer_codec",
    "parse_candidate",
    "track_frames",
    "set_vp8_bitrate_hints",
    "with_bitrate_hints",
    "HINT_START_KBPS",
    "HINT_MIN_KBPS",
    "HINT_MAX_KBPS",
]

_loopback_only: ContextVar[bool] = ContextVar("decart_loopback_ice", default=False)
_original_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _loopback_only.get():
        return ["127.0.0.1"] if use_ipv4 else ["::1"]
    addresses = _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    # A machine with only a loopback interface still gets one usable candidate.
    return addresses or (["127.0.0.1"] if use_ipv4 else [])


aioice.ice.get_host_addresses = _get_host_addresses


@contextlib.contextmanager
def loopback_ice(enabled: bool = True) -> Iterator[None]:
    """Offer only loopback ICE candidates for gathering started inside the block."""
    token = _loopback_only.set(enabled)
    try:
        yield
    finally:
        _loopback_only.reset(token)


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_peer_connection() -> RTCPeerConnection:
    """A peer connection with no STUN server: every peer we make is reached
    directly (loopback or the browser on the same host); an unreachable STUN
    server costs up to 5 s of gathering per connect."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_codec(transceiver, mime_type: str = "video/VP8") -> None:
    """Put ``mime_type`` first in a video transceiver's codec preferences."""
    caps = RTCRtpSender.getCapabilities("video")
    preferred = [c for c in caps.codecs if c.mimeType.lower() == mime_type.lower()]
    others = [c for c in caps.codecs if c.mimeType.lower() != mime_type.lower()]
    if preferred:
        transceiver.setCodecPreferences(preferred + others)


async def track_frames(track: MediaStreamTrack) -> AsyncIterator[Any]:
    """``async for frame in track_frames(track)``: a remote track's frames until it ends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        yield frame


def parse_candidate(candidate: Mapping[str, Any]) -> RTCIceCandidate:
    """An aiortc candidate from a browser-style dict ``{candidate, sdpMid,
    sdpMLineIndex}`` (the ``candidate:`` prefix optional; with neither mid nor
    index it belongs to the first m-line). Raises ValueError when unreadable."""
    text = str(candidate.get("candidate") or "").strip()
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    try:
        ice = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:  # aiortc asserts on too few fields
        raise ValueError(f"unreadable ICE candidate {text[:80]!r}: {exc}") from exc
    ice.sdpMid = candidate.get("sdpMid")
    ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
    if ice.sdpMid is None and ice.sdpMLineIndex is None:
        ice.sdpMLineIndex = 0
    return ice


#: What Chromium is told to send us over VP8, in kbps: start high enough for
#: 720p from the first frame, never under 1 Mbps, at most 6 Mbps (one value
#: for every peer a browser sends its camera to: the widget and the server).
HINT_START_KBPS, HINT_MIN_KBPS, HINT_MAX_KBPS = 2500, 1000, 6000

_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9-]+)/", re.IGNORECASE)


def set_vp8_bitrate_hints(
    sdp: str,
    *,
    start_kbps: int = HINT_START_KBPS,
    min_kbps: int = HINT_MIN_KBPS,
    max_kbps: int = HINT_MAX_KBPS,
) -> str:
    """Add Chromium's ``x-google-*-bitrate`` hints to every VP8 payload of an SDP.

    Chromium's bandwidth estimate starts low and downscales 720p to 360p; the
    hints in the SDP it applies raise the start (docs/troubleshooting.md).
    """
    lines = with_bitrate_hints(sdp.splitlines(), ("vp8",), (start_kbps, min_kbps, max_kbps))
    return "\r\n".join(lines) + "\r\n"


def with_bitrate_hints(
    lines: list[str],
    codecs: tuple[str, ...],
    kbps: tuple[int, int, int] = (HINT_START_KBPS, HINT_MIN_KBPS, HINT_MAX_KBPS),
) -> list[str]:
    """SDP ``lines`` (a whole description or one media section) with the
    ``x-google`` start/min/max hints on every payload of ``codecs`` (lower
    case names, e.g. ``("vp8", "h264")``), replacing hints already there."""
    start, low, high = kbps
    hinted = {m.group(1) for line in lines if (m := _RTPMAP.match(line)) and m.group(2).lower() in codecs}
    has_fmtp = {m.group(1) for line in lines if (m := _FMTP.match(line))}
    hint = f"x-google-start-bitrate={start};x-google-min-bitrate={low};x-google-max-bitrate={high}"
    out: list[str] = []
    for line in lines:
        m = _FMTP.match(line)
        if m and m.group(1) in hinted:
            params = [p for p in m.group(2).split(";") if p and not p.strip().startswith("x-google-")]
            line = f"a=fmtp:{m.group(1)} " + ";".join(params + [hint])
        out.append(line)
        rm = _RTPMAP.match(line)
        if rm and rm.group(1) in hinted and rm.group(1) not in has_fmtp:
            out.append(f"a=fmtp:{rm.group(1)} {hint}")
    return out
