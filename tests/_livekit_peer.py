"""The real LiveKit rtc client (PyPI ``livekit``) as a test peer of the local
server: a Decart control socket (:class:`RawClient`) that asks for a room,
then a ``livekit.rtc.Room`` that joins it, publishes a moving pattern and
counts the frames of the ``inference-server-`` participant's track.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import numpy as np
from _raw_client import RawClient, pattern_frames
from livekit import rtc

from decart_widgets import protocol

INFERENCE_PREFIX = "inference-server-"
CODECS = {"vp8": rtc.VideoCodec.VP8, "h264": rtc.VideoCodec.H264}


def rgba_frames(width: int, height: int) -> list[bytes]:
    out = []
    for rgb in pattern_frames(width, height):
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., :3] = rgb
        rgba[..., 3] = 255
        out.append(rgba.tobytes())
    return out


class RoomViewer:
    """A joined ``rtc.Room`` that counts the frames of the model's video track."""

    def __init__(self) -> None:
        self.room = rtc.Room()
        self.frames = 0
        self.sizes: list[tuple[int, int]] = []
        self.first_frame_at: float | None = None
        self.identities: list[str] = []
        self.disconnected = asyncio.Event()
        self.disconnect_reason: Any = None
        self._cond = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.room.on("track_subscribed", self._on_track)
        self.room.on("disconnected", self._on_disconnected)

    def _on_track(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        self.identities.append(participant.identity)
        if participant.identity.startswith(INFERENCE_PREFIX) and track.kind == rtc.TrackKind.KIND_VIDEO:
            self._tasks.append(asyncio.ensure_future(self._read(track)))

    def _on_disconnected(self, reason: Any = None) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    async def _read(self, track: rtc.Track) -> None:
        stream = rtc.VideoStream(track)
        try:
            async for event in stream:
                async with self._cond:
                    if self.first_frame_at is None:
                        self.first_frame_at = time.monotonic()
                    self.frames += 1
                    self.sizes.append((event.frame.width, event.frame.height))
                    del self.sizes[:-30]
                    self._cond.notify_all()
        finally:
            await stream.aclose()

    async def connect(self, url: str, token: str) -> None:
        await self.room.connect(url, token)

    async def wait_frames(self, count: int, timeout: float = 15.0) -> None:
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.frames >= count), timeout)
            except asyncio.TimeoutError:
                raise AssertionError(f"{self.frames} of {count} frames within {timeout} s") from None

    async def close(self) -> None:
        await self.room.disconnect()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class LiveKitPeer(RoomViewer):
    """A Decart session in the LiveKit generation: control socket + room + camera."""

    def __init__(self, control: RawClient, info: dict[str, Any]) -> None:
        super().__init__()
        self.control = control
        self.info = info
        self.source: rtc.VideoSource | None = None
        self._feed: asyncio.Task[None] | None = None
        self.sent = 0

    @classmethod
    async def join(cls, base_url: str, join: protocol.LiveKitJoin | None = None, **open_kw: Any) -> LiveKitPeer:
        control = await RawClient.open(base_url, **open_kw)
        try:
            await control.send(join or protocol.LiveKitJoin())
            info = await control.wait_for("livekit_room_info", 10)
        except BaseException:
            await control.close()
            raise
        return cls(control, info)

    async def connect(self, url: str | None = None, token: str | None = None) -> None:
        await super().connect(url or self.info["livekit_url"], token or self.info["token"])

    async def publish(self, width: int = 640, height: int = 480, *, codec: str = "vp8", simulcast: bool = True,
                      fps: float = 30.0) -> None:
        self.source = rtc.VideoSource(width, height)
        track = rtc.LocalVideoTrack.create_video_track("camera", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=simulcast,
                                          video_codec=CODECS[codec])
        await self.room.local_participant.publish_track(track, options)
        self._feed = asyncio.ensure_future(self._run_feed(width, height, fps))

    async def _run_feed(self, width: int, height: int, fps: float) -> None:
        frames = rgba_frames(width, height)
        start = time.monotonic()
        while self.source is not None:
            data = frames[self.sent % len(frames)]
            self.source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, data))
            self.sent += 1
            await asyncio.sleep(max(0.0, start + self.sent / fps - time.monotonic()))

    async def close(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
            await asyncio.gather(self._feed, return_exceptions=True)
        await super().close()
        await self.control.close()


async def watch_token(http_url: str, room_name: str, api_key: str = "test") -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{http_url}/watch-stream/{room_name}", headers={"x-api-key": api_key}) as resp:
            return resp.status, await resp.json()
