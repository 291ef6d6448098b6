"""Drives the official Python SDK ``decart==0.2.4`` (LiveKit generation),
unmodified, against a server; run by the interop tests and the bench in the
SDK's own venv (``make`` builds ``.venv-sdk024``), so it imports only the SDK,
``livekit`` and numpy, never decart_widgets.

    .venv-sdk024/bin/python tests/_sdk024_peer.py '{"scenario": "session", "url": "ws://127.0.0.1:8765", ...}'

Prints one JSON object (what the SDK did and saw) on stdout, as its last
line; with ``"progress": true`` a line ``{"event": "first_frame"}`` comes
first, when the first output frame arrives (the bench times its CPU window
from it).

Scenarios:
- ``session``: connect with an initial state (``initial``: prompt, image or
  none), publish a moving pattern of the model's size, count the output
  frames for ``seconds``; with ``ops``: ``set_prompt``, ``set(prompt, image)``,
  a moderated ``set_prompt`` (must raise), and a view-only ``subscribe`` with
  the session's subscribe token; then ``disconnect``;
- ``connect_error``: connect (with ``api_key``) and report the error raised.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import time
from typing import Any

import numpy as np
from decart import models
from decart.errors import DecartSDKError
from decart.realtime.client import RealtimeClient, SetInput
from decart.realtime.subscribe import SubscribeOptions
from decart.realtime.types import RealtimeConnectOptions
from decart.types import ModelState, Prompt
from livekit import rtc

MODERATED = "something nsfw please"
# an 8x8 PNG of one colour: a small reference image
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAK0lEQVQIHW3BAQEAAADBMNqI/WDCKGBziR6X6HGJHpfocYkel+hxiR6X6Bm0hw0pFS1mygAAAABJRU5ErkJggg==")


def _frames(width: int, height: int, count: int = 8) -> list[bytes]:
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
        rgba[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
        rgba[..., 2] = ((x // 16 + y // 16) % 2 * 120 + 60).astype(np.uint8)
        rgba[..., 3] = 255
        rgba[height // 3: 2 * height // 3, i * width // count: (i + 1) * width // count, :3] = (250, 220, 40)
        out.append(rgba.tobytes())
    return out


class Counter:
    """Frames of a remote track: how many, their sizes, when the first came."""

    def __init__(self) -> None:
        self.count = 0
        self.sizes: set[tuple[int, int]] = set()
        self.first_at: float | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self._cond = asyncio.Condition()

    def on_remote_stream(self, track: Any, *_: Any) -> None:
        self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: Any) -> None:
        stream = rtc.VideoStream(track)
        try:
            async for event in stream:
                async with self._cond:
                    if self.first_at is None:
                        self.first_at = time.monotonic()
                    self.count += 1
                    self.sizes.add((event.frame.width, event.frame.height))
                    self._cond.notify_all()
        finally:
            await stream.aclose()

    async def until(self, count: int, timeout: float) -> None:
        """Wait for ``count`` frames in all, at most ``timeout`` s (the caller checks the count)."""
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.count >= count), timeout)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Camera:
    def __init__(self, width: int, height: int, fps: float) -> None:
        self.source = rtc.VideoSource(width, height)
        self.track = rtc.LocalVideoTrack.create_video_track("camera", self.source)
        self._frames = _frames(width, height)
        self._size = (width, height)
        self._fps = fps
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        start, n = time.monotonic(), 0
        w, h = self._size
        while True:
            self.source.capture_frame(rtc.VideoFrame(w, h, rtc.VideoBufferType.RGBA, self._frames[n % len(self._frames)]))
            n += 1
            await asyncio.sleep(max(0.0, start + n / self._fps - time.monotonic()))

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _initial_state(kind: str) -> ModelState | None:
    if kind == "prompt":
        return ModelState(prompt=Prompt(text="anime style", enhance=False))
    if kind == "image":
        return ModelState(prompt=Prompt(text="match this palette"), image=PNG)
    return None


async def _session(cfg: dict[str, Any]) -> dict[str, Any]:
    model = models.realtime(cfg.get("model", "lucy-2.1"))
    out: dict[str, Any] = {"model_size": [model.width, model.height]}
    width, height = cfg.get("size") or (model.width, model.height)
    camera = Camera(width, height, cfg.get("fps", 30))
    frames, ticks, states = Counter(), [], []
    started = time.monotonic()
    client = await RealtimeClient.connect(
        base_url=cfg["url"], api_key=cfg.get("api_key", "test"), local_track=camera.track,
        options=RealtimeConnectOptions(model=model, on_remote_stream=frames.on_remote_stream,
                                       initial_state=_initial_state(cfg.get("initial", "prompt"))),
    )
    out["connect_s"] = time.monotonic() - started
    client.on("generation_tick", lambda msg: ticks.append(msg.seconds))
    client.on("connection_change", states.append)
    out["session_id"], out["subscribe_token"] = client.session_id, client.subscribe_token
    try:
        await frames.until(1, 20)
        out["first_frame_s"] = None if frames.first_at is None else frames.first_at - started
        if cfg.get("progress"):
            print(json.dumps({"event": "first_frame"}), flush=True)
        window, before = time.monotonic(), frames.count
        await asyncio.sleep(cfg.get("seconds", 2.0))
        out["frames"], out["sizes"] = frames.count, sorted(frames.sizes)
        out["fps"] = (frames.count - before) / max(1e-6, time.monotonic() - window)
        if cfg.get("ops"):
            await client.set_prompt("cyberpunk city", enhance=False)
            await client.set(SetInput(prompt="oil painting", image=PNG))
            try:
                await client.set_prompt(MODERATED)
                out["moderation"] = "not raised"
            except DecartSDKError as exc:
                out["moderation"] = f"{type(exc).__name__}: {exc}"
            out["subscriber"] = await _subscribe(cfg, client.subscribe_token)
            count = frames.count
            await frames.until(count + 5, 10)
            out["frames_after_ops"] = frames.count - count
        out["ticks"], out["connected"] = ticks, client.is_connected()
    finally:
        await client.disconnect()
        await camera.stop()
        await frames.stop()
    out["states"], out["after_disconnect"] = states, client.get_connection_state()
    return out


async def _subscribe(cfg: dict[str, Any], token: str | None) -> dict[str, Any]:
    viewer = Counter()
    sub = await RealtimeClient.subscribe(base_url=cfg["url"], api_key=cfg.get("api_key", "test"),
                                         options=SubscribeOptions(token=token or "", on_remote_stream=viewer.on_remote_stream))
    try:
        await viewer.until(5, 15)
        return {"frames": viewer.count, "sizes": sorted(viewer.sizes), "connected": sub.is_connected()}
    finally:
        await sub.disconnect()
        await viewer.stop()


async def _connect_error(cfg: dict[str, Any]) -> dict[str, Any]:
    model = models.realtime(cfg.get("model", "lucy-2.1"))
    camera = Camera(64, 64, 10)
    started = time.monotonic()
    try:
        client = await RealtimeClient.connect(
            base_url=cfg["url"], api_key=cfg["api_key"], local_track=camera.track,
            options=RealtimeConnectOptions(model=model, on_remote_stream=lambda *a: None,
                                           initial_state=_initial_state("prompt")))
        await client.disconnect()
        return {"error": None}
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    finally:
        await camera.stop()


async def main(cfg: dict[str, Any]) -> dict[str, Any]:
    scenario = {"session": _session, "connect_error": _connect_error}[cfg["scenario"]]
    return await scenario(cfg)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
    # The livekit FFI's Rust threads may still call into Python while the
    # interpreter finalizes, which aborts the process ("panic in a function that
    # cannot unwind"); everything is reported and closed by now, so skip finalization.
    sys.stderr.flush()
    os._exit(0)
