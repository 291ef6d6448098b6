"""A raw protocol client for server tests: an aiohttp WebSocket plus an aiortc
peer of our own, speaking docs/protocol.md by hand (through
``decart_widgets.protocol``), so each test controls every message.

Also :class:`PatternTrack`, a paced video source whose frames carry a stamp
(a frame counter in the pixels) and enough colour and texture for effects
to change visibly.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import cv2
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from decart_widgets import protocol
from decart_widgets.common.rtc import loopback_ice, new_peer_connection, prefer_codec
from decart_widgets.common.stamp import stamp

_CLOCK = 90_000


def pattern_frames(width: int, height: int, count: int = 8) -> list[np.ndarray]:
    """``count`` colourful RGB frames with a moving bar and some texture."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        rgb = np.empty((height, width, 3), np.uint8)
        rgb[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
        rgb[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
        rgb[..., 2] = ((x // 16 + y // 16) % 2 * 120 + 60).astype(np.uint8)
        bar = (i * width // count, (i + 1) * width // count)
        rgb[height // 3: 2 * height // 3, bar[0]: bar[1]] = (250, 220, 40)
        frames.append(rgb)
    return frames


class PatternTrack(MediaStreamTrack):
    """Stamped pattern frames at ``fps`` (yuv420p, like a decoded camera)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 30.0, *, stamped: bool = True) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._frames = pattern_frames(width, height)
        self._stamped = stamped
        self.count = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + self.count / self.fps - now
            if wait > 0:
                await asyncio.sleep(wait)
        rgb = self._frames[self.count % len(self._frames)]
        if self._stamped:
            stamp(rgb, self.count)  # rewrites the whole strip in place
        frame = VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        frame.pts = int(self.count * _CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, _CLOCK)
        self.count += 1
        return frame


def strip_candidates(sdp: str) -> tuple[str, list[str]]:
    """The SDP without its ``a=candidate`` lines, and those candidates."""
    lines = sdp.splitlines()
    candidates = [line[2:] for line in lines if line.startswith("a=candidate:")]
    kept = [line for line in lines if not line.startswith("a=candidate:") and line != "a=end-of-candidates"]
    return "\r\n".join(kept) + "\r\n", candidates


class RawClient:
    """One WebSocket to the server, every message it receives kept in order."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self.pc: RTCPeerConnection | None = None
        self.trickled = 0  # candidates sent as ice-candidate messages
        self.frames = 0
        self.last_frame: VideoFrame | None = None
        self.first_frame_at: float | None = None
        self._frame_cond = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._reader = asyncio.ensure_future(self._read())
        self.closed = asyncio.Event()

    @classmethod
    async def open(cls, base_url: str, *, api_key: str | None = "test", model: str | None = "lucy-2.1",
                   path: str = "/v1/stream", **query: str) -> RawClient:
        params = {k: v for k, v in (("api_key", api_key), ("model", model)) if v is not None}
        params.update(query)
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(f"{base_url}{path}?{urlencode(params)}", max_msg_size=0)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- messages -------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                async with self._changed:
                    self.messages.append(json.loads(msg.data))
                    self._changed.notify_all()
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def send(self, msg: protocol.Message | dict[str, Any] | str) -> None:
        if isinstance(msg, str):
            await self.ws.send_str(msg)
        elif isinstance(msg, dict):
            await self.ws.send_str(json.dumps(msg))
        else:
            await self.ws.send_str(protocol.encode(msg))

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == type_]

    def mark(self) -> int:
        return len(self.messages)

    async def wait_for(self, type_: str, timeout: float = 5.0, *, since: int = 0, where: Any = None) -> dict[str, Any]:
        """The first message of ``type_`` (from index ``since``) matching ``where``."""
        def find() -> dict[str, Any] | None:
            for m in self.messages[since:]:
                if m.get("type") == type_ and (where is None or where(m)):
                    return m
            return None

        async def wait() -> dict[str, Any]:
            async with self._changed:
                while True:
                    found = find()
                    if found is not None:
                        return found
                    if self.closed.is_set():
                        raise ConnectionError(f"socket closed before a {type_!r} message; got {self.types()}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {type_!r} message within {timeout} s; got {self.types()}") from None

    def types(self) -> list[str]:
        return [str(m.get("type")) for m in self.messages]

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    # -- media ----------------------------------------------------------
    async def start_media(self, track: MediaStreamTrack | None = None, *, trickle: bool = False,
                          candidates_first: bool = False, end_of_candidates: bool = True,
                          wait_answer: bool = True, prefer: str | None = None) -> None:
        """Offer (sending ``track``, or recvonly video+audio without one) and
        apply the answer. ``trickle`` sends the candidates as JS clients do:
        right after the offer, one message each, then a null candidate;
        ``candidates_first`` sends them (trickled) before the offer; ``prefer``
        (e.g. ``"video/H264"``) puts that codec first in the offer."""
        pc = self.pc = new_peer_connection()

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            if remote.kind == "video":
                self._tasks.append(asyncio.ensure_future(self._receive(remote)))

        if track is None:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
        else:
            pc.addTrack(track)
        if prefer is not None:
            prefer_codec(pc.getTransceivers()[0], prefer)
        with loopback_ice():
            await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        if not (trickle or candidates_first):
            await self.send(protocol.Offer(sdp))
        else:
            stripped, candidates = strip_candidates(sdp)
            if not candidates_first:
                await self.send(protocol.Offer(stripped))
            self.trickled = len(candidates)
            for cand in candidates:
                await self.send({"type": "ice-candidate", "candidate": {
                    "candidate": cand, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": _ufrag(sdp)}})
            if end_of_candidates:
                await self.send({"type": "ice-candidate", "candidate": None})
            if candidates_first:
                await self.send(protocol.Offer(stripped))
        if wait_answer:
            answer = await self.wait_for("answer", 10)
            await self.apply_answer(answer["sdp"])

    async def apply_answer(self, sdp: str) -> None:
        assert self.pc is not None
        with loopback_ice():
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _receive(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            async with self._frame_cond:
                self.frames += 1
                self.last_frame = frame
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self._frame_cond.notify_all()

    async def wait_frames(self, count: int, timeout: float = 10.0) -> int:
        """Wait until ``count`` frames in all have arrived; returns the total."""
        async def wait() -> int:
            async with self._frame_cond:
                await self._frame_cond.wait_for(lambda: self.frames >= count)
                return self.frames

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"only {self.frames} of {count} frames within {timeout} s") from None

    def last_rgb(self) -> np.ndarray:
        assert self.last_frame is not None, "no frame received"
        return self.last_frame.to_ndarray(format="rgb24")

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, *self._tasks, return_exceptions=True)
        await self.session.close()


def _ufrag(sdp: str) -> str | None:
    m = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    return m.group(1) if m else None
