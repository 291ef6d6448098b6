"""SDP adjustments for a LiveKit client's publisher offer, around aiortc.

aiortc neither lists the RID header extensions nor receives several
simulcast layers. libwebrtc builds a later video section from the header
extensions its earlier ones negotiated, and refuses its own simulcast
re-offer when ``urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`` is not among
them; with no simulcast answer at all it sends nothing while reporting
success. So every video section that offers the RID extensions gets them
accepted (with the offer's ids), and a simulcast section is answered with
exactly one layer, the best (``f``, then ``h``, then ``q``, whatever order
it was offered in); aiortc never sees the RIDs.

The client encodes with the first codec of the answer, and aiortc answers
in the offer's order, while livekit-client leaves VP8 first even when H264 was
asked for: the requested codec is moved to the front of the offer first.

libwebrtc starts its bandwidth estimate low and, with aiortc's slow REMB,
keeps sending 640x360 of a 720p camera; the answer's ``x-google-*-bitrate``
hints (as the legacy server's answer carries for VP8) start it at 720p.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..common.rtc import HINT_MAX_KBPS, HINT_MIN_KBPS, HINT_START_KBPS, with_bitrate_hints

__all__ = ["PublishPlan", "prepare_offer", "finish_answer", "split_sections"]

RID_EXTENSIONS = ("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
                  "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id")
_LAYER_RANK = {"f": 0, "h": 1, "q": 2}
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/")
_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\w+)? (\S+)")
_HINTED = ("vp8", "vp9", "h264", "av1")
#: kbps: start, min, max: the hints every browser peer of ours gets (Decart's
#: JS SDK publishes up to 3.5 Mbps at 720p)
BITRATE_HINTS = (HINT_START_KBPS, HINT_MIN_KBPS, HINT_MAX_KBPS)


@dataclass(frozen=True)
class PublishPlan:
    """What :func:`finish_answer` must add, per video ``mid``: the one layer
    received and the RID extension lines to accept."""

    layers: dict[str, str]
    extmaps: dict[str, list[str]]


def split_sections(sdp: str) -> tuple[list[str], list[list[str]]]:
    """(session-level lines, one list of lines per ``m=`` section)."""
    session: list[str] = []
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line:
            session.append(line)
    return session, sections


def _join(session: list[str], sections: list[list[str]]) -> str:
    return "\r\n".join(session + [line for s in sections for line in s]) + "\r\n"


def _value(section: list[str], prefix: str) -> str | None:
    return next((line[len(prefix):] for line in section if line.startswith(prefix)), None)


def _track_id(section: list[str]) -> str | None:
    msid = _value(section, "a=msid:")
    parts = msid.split() if msid else []
    return parts[1] if len(parts) > 1 else None


def _best_layer(rids: list[str]) -> str:
    return min(rids, key=lambda r: (_LAYER_RANK.get(r, 3), rids.index(r)))


def _codec_first(section: list[str], mime: str) -> list[str]:
    """The section with ``mime``'s payload types (e.g. ``video/H264``) first, on
    its m= line and among its ``a=rtpmap`` lines (aiortc reads codecs in rtpmap order)."""
    name = mime.split("/")[-1].lower()
    wanted = {m.group(1) for line in section if (m := _RTPMAP.match(line)) and m.group(2).lower() == name}
    head = section[0].split()
    if not wanted or len(head) < 4:
        return section
    pts = head[3:]
    ordered = [p for p in pts if p in wanted] + [p for p in pts if p not in wanted]
    maps = [(i, m.group(1)) for i, line in enumerate(section) if (m := _RTPMAP.match(line))]
    moved = [i for i, pt in maps if pt in wanted] + [i for i, pt in maps if pt not in wanted]
    out = [" ".join(head[:3] + ordered)] + section[1:]
    for (slot, _), source in zip(maps, moved, strict=True):
        out[slot] = section[source]
    return out


def prepare_offer(sdp: str, codec_for: Callable[[str | None], str | None]) -> tuple[str, PublishPlan]:
    """The offer aiortc gets (one layer's worth, requested codec first) and
    the plan for the answer. ``codec_for(track_id)`` gives the mime type the
    client asked for that track (``add_track``), or None."""
    session, sections = split_sections(sdp)
    layers: dict[str, str] = {}
    extmaps: dict[str, list[str]] = {}
    out: list[list[str]] = []
    for section in sections:
        if not section[0].startswith("m=video"):
            out.append(section)
            continue
        mid = _value(section, "a=mid:")
        rids = [line[len("a=rid:"):].split()[0] for line in section
                if line.startswith("a=rid:") and " send" in line]
        rid_extmaps = [line for line in section if (m := _EXTMAP.match(line)) and m.group(2) in RID_EXTENSIONS]
        if mid is not None and rid_extmaps:
            extmaps[mid] = rid_extmaps
        if rids and mid is not None:
            layers[mid] = _best_layer(rids)
            section = [line for line in section if not line.startswith(("a=rid:", "a=simulcast:"))]
        mime = codec_for(_track_id(section))
        out.append(_codec_first(section, mime) if mime else section)
    return _join(session, out), PublishPlan(layers, extmaps)


def finish_answer(sdp: str, plan: PublishPlan) -> str:
    """aiortc's answer, accepting the RID extensions and one layer per simulcast section."""
    session, sections = split_sections(sdp)
    for i, section in enumerate(sections):
        mid = _value(section, "a=mid:")
        if mid is None or section[0].split()[1] == "0":
            continue
        have = {m.group(2) for line in section if (m := _EXTMAP.match(line))}
        extra = [line for line in plan.extmaps.get(mid, []) if _EXTMAP.match(line).group(2) not in have]  # type: ignore[union-attr]
        last_ext = max((k for k, line in enumerate(section) if line.startswith("a=extmap:")), default=0)
        section = section[: last_ext + 1] + extra + section[last_ext + 1:]
        rid = plan.layers.get(mid)
        if rid is not None:
            section += [f"a=rid:{rid} recv", f"a=simulcast:recv {rid}"]
        sections[i] = _with_bitrate_hints(section) if section[0].startswith("m=video") else section
    return _join(session, sections)


def _with_bitrate_hints(section: list[str]) -> list[str]:
    return with_bitrate_hints(section, _HINTED, BITRATE_HINTS)
