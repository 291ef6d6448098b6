"""Drives the legacy official Python SDK ``decart==0.0.40`` (direct WebRTC
generation) for bench_generations.py, the way tests/_sdk024_peer.py drives
0.2.4: one session in a fresh process, timed from ``connect()`` to the first
output frame, then ``seconds`` of streaming.

    .venv/bin/python bench/_sdk0040_peer.py '{"url": "ws://127.0.0.1:8765", "size": [1280, 720], "seconds": 2}'

Prints ``{"event": "first_frame"}`` when the first frame arrives (with
``"progress": true``) and one JSON object as its last line. It imports
neither decart_widgets nor its jitter-buffer patch: the SDK runs as shipped,
except that its hard-coded Google STUN server is dropped (as in
tests/test_interop_official_sdk.py), since this machine cannot reach it and
aiortc would wait 5 s in gathering on every connect.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import sys
import time
from typing import Any

import cv2
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame
from decart import models
from decart.realtime import webrtc_connection
from decart.realtime.client import RealtimeClient
from decart.realtime.types import RealtimeConnectOptions
from decart.types import ModelState, Prompt

webrtc_connection.RTCConfiguration = lambda iceServers=None: RTCConfiguration(iceServers=[])  # type: ignore[assignment]


class Pattern(MediaStreamTrack):
    """A paced moving pattern, yuv420p like a decoded camera."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: float = 30.0) -> None:
        super().__init__()
        y, x = np.mgrid[0:height, 0:width]
        self._frames = []
        for i in range(8):
            rgb = np.empty((height, width, 3), np.uint8)
            rgb[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
            rgb[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
            rgb[..., 2] = ((x // 16 + y // 16) % 2 * 120 + 60).astype(np.uint8)
            rgb[height // 3: 2 * height // 3, i * width // 8: (i + 1) * width // 8] = (250, 220, 40)
            self._frames.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
        self._fps, self._n, self._start = fps, 0, None

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            await asyncio.sleep(max(0.0, self._start + self._n / self._fps - now))
        frame = VideoFrame.from_ndarray(self._frames[self._n % 8], format="yuv420p")
        frame.pts, frame.time_base = int(self._n * 90000 / self._fps), fractions.Fraction(1, 90000)
        self._n += 1
        return frame


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.first_at: float | None = None
        self.sizes: set[tuple[int, int]] = set()
        self.first = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def on_remote_stream(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame: Any = await track.recv()
            except MediaStreamError:
                return
            if self.first_at is None:
                self.first_at = time.monotonic()
                self.first.set()
            self.count += 1
            self.sizes.add((frame.width, frame.height))


async def main(cfg: dict[str, Any]) -> dict[str, Any]:
    width, height = cfg.get("size", [1280, 720])
    frames = Counter()
    source = Pattern(width, height)
    started = time.monotonic()
    client = await RealtimeClient.connect(
        base_url=cfg["url"], api_key=cfg.get("api_key", "test"), local_track=source,
        options=RealtimeConnectOptions(model=models.realtime("lucy-2.1"), on_remote_stream=frames.on_remote_stream,
                                       initial_state=ModelState(prompt=Prompt(text="anime style", enhance=False))))
    out: dict[str, Any] = {"connect_s": time.monotonic() - started}
    try:
        await asyncio.wait_for(frames.first.wait(), 20)
        out["first_frame_s"] = frames.first_at - started if frames.first_at is not None else None
        if cfg.get("progress"):
            print(json.dumps({"event": "first_frame"}), flush=True)
        window, before = time.monotonic(), frames.count
        await asyncio.sleep(cfg.get("seconds", 0.0))
        out["frames"], out["sizes"] = frames.count, sorted(frames.sizes)
        out["fps"] = (frames.count - before) / max(1e-6, time.monotonic() - window)
    finally:
        await client.disconnect()
        for t in frames.tasks:
            t.cancel()
        await asyncio.gather(*frames.tasks, return_exceptions=True)
    return out


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
