"""One client of ``bench_links.py`` in a fresh process: ours (``media=``
``livekit`` or ``webrtc``) or the official SDK ``decart==0.2.4`` (run with
``.venv-sdk024/bin/python``). Prints one JSON object.

    python bench/_links_client.py '{"client": "ours", "media": "livekit", "url": "ws://...", ...}'

In order, in this one process: import the client (timed); the cold connect
(the first of the process: ``connect()`` → first output frame); ``warm``
more connects, each disconnected before the next; then a last session kept
``warmup`` s and measured over ``window`` s: this process's CPU (all
threads, ``time.process_time``) over wall time, output frames per second,
and end-to-end latency by the counter stamp (sent → decoded back here).
Every client sends the same pattern (``_pattern.py``) at 30 fps.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pattern import Pattern, read_stamp  # noqa: E402

FPS = 30
FIRST_FRAME_TIMEOUT = 20.0


class Meter:
    """Output frames and their stamp latencies (perf_counter seconds)."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.frames = 0
        self.first_at: float | None = None
        self.latencies: list[float] = []
        self.got_first = asyncio.Event()

    def sent_now(self, index: int) -> None:
        self.sent[index] = time.perf_counter()
        if len(self.sent) > 600:
            self.sent.pop(next(iter(self.sent)))

    def received(self, luma: Any) -> None:
        now = time.perf_counter()
        self.frames += 1
        if self.first_at is None:
            self.first_at = now
            self.got_first.set()
        counter = read_stamp(luma)
        if counter is not None and counter in self.sent:
            self.latencies.append(now - self.sent[counter])


# --------------------------------------------------------------------- ours


async def ours_session(cfg: dict[str, Any], meter: Meter) -> Any:
    from decart_widgets import NumpySource, RealtimeSession

    pattern = Pattern()
    session = await RealtimeSession.connect("lucy-2.1", base_url=cfg["url"], api_key="bench", media=cfg["media"],
                                            source=NumpySource(lambda t, index: pattern.frame(index)))
    meter.session = session  # type: ignore[attr-defined]
    return session


async def ours_first_frame(session: Any) -> float:
    """perf_counter() of the session's first output frame (stamped by the session)."""
    if session.output.first_frame_at is None:
        await session.snapshot("output", timeout=FIRST_FRAME_TIMEOUT)
    return float(session.output.first_frame_at)


async def ours_close(session: Any) -> None:
    session.disconnect()


# ---------------------------------------------------------------------- SDK


class SdkCamera:
    """What an SDK user writes: an rtc.VideoSource fed at 30 fps (RGB24, as
    a numpy camera frame comes)."""

    def __init__(self, meter: Meter) -> None:
        from livekit import rtc

        self.rtc = rtc
        self.pattern = Pattern()
        self.source = rtc.VideoSource(self.pattern.width, self.pattern.height)
        self.track = rtc.LocalVideoTrack.create_video_track("camera", self.source)
        self.meter = meter
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        rtc, start, index = self.rtc, time.perf_counter(), 0
        while True:
            due = start + index / FPS
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            rgb = self.pattern.frame(index)
            self.meter.sent_now(index)
            self.source.capture_frame(rtc.VideoFrame(self.pattern.width, self.pattern.height,
                                                     rtc.VideoBufferType.RGB24, rgb.reshape(-1).data))
            index += 1

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.source.aclose()


async def sdk_session(cfg: dict[str, Any], meter: Meter) -> Any:
    import numpy as np
    from decart import models
    from decart.realtime.client import RealtimeClient
    from decart.realtime.types import RealtimeConnectOptions
    from livekit import rtc

    camera = SdkCamera(meter)
    readers: list[asyncio.Task[None]] = []

    async def read(track: Any) -> None:
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        try:
            async for event in stream:
                f = event.frame
                meter.received(np.frombuffer(f.data, np.uint8)[: f.width * f.height].reshape(f.height, f.width))
        finally:
            await stream.aclose()

    def on_remote_stream(track: Any, *_: Any) -> None:
        readers.append(asyncio.ensure_future(read(track)))

    client = await RealtimeClient.connect(
        base_url=cfg["url"], api_key="bench", local_track=camera.track,
        options=RealtimeConnectOptions(model=models.realtime("lucy-2.1"), on_remote_stream=on_remote_stream),
    )
    return client, camera, readers


async def sdk_close(handle: Any) -> None:
    client, camera, readers = handle
    await client.disconnect()
    await camera.stop()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


# ------------------------------------------------------------------- driver


async def one_connect(cfg: dict[str, Any], keep: bool) -> tuple[dict[str, float], Any, Meter]:
    meter = Meter()
    sdk = cfg["client"] == "sdk"
    open_, close = (sdk_session, sdk_close) if sdk else (ours_session, ours_close)
    t0 = time.perf_counter()
    handle = await open_(cfg, meter)
    returned = time.perf_counter()
    try:
        if sdk:
            await asyncio.wait_for(meter.got_first.wait(), FIRST_FRAME_TIMEOUT)
            assert meter.first_at is not None
            first = meter.first_at
        else:
            first = await ours_first_frame(handle)
    except BaseException:
        await close(handle)
        raise
    times = {"connect_ms": 1000 * (returned - t0), "first_frame_ms": 1000 * (first - t0)}
    if not keep:
        await close(handle)
        await asyncio.sleep(0.3)  # the server finishes closing, untimed
    return times, handle, meter


def _received(cfg: dict[str, Any], handle: Any, meter: Meter) -> int:
    return int(handle.output.frames_received) if cfg["client"] == "ours" else meter.frames


def _latencies(cfg: dict[str, Any], handle: Any, meter: Meter) -> list[float]:
    # ours: the session's own stamp latencies (its pump notes when each stamped
    # frame is handed to the encoder); the SDK: noted just before capture_frame
    return list(handle.output.latencies) if cfg["client"] == "ours" else list(meter.latencies)


async def main(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"client": cfg["client"], "media": cfg.get("media")}
    t = time.perf_counter()
    if cfg["client"] == "sdk":
        import decart.realtime.client  # noqa: F401
        import livekit.rtc  # noqa: F401
    else:
        import decart_widgets.session  # noqa: F401
    out["import_ms"] = 1000 * (time.perf_counter() - t)
    out["cold"], _, _ = await one_connect(cfg, keep=False)
    out["warm"] = []
    warm = max(1, cfg.get("warm", 3))
    for k in range(warm):
        times, handle, meter = await one_connect(cfg, keep=k == warm - 1)
        out["warm"].append(times)
    close = sdk_close if cfg["client"] == "sdk" else ours_close
    try:
        await asyncio.sleep(cfg.get("warmup", 3.0))
        n0 = _received(cfg, handle, meter)
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(cfg.get("window", 10.0))
        c1, w1 = time.process_time(), time.perf_counter()
        wall, frames = w1 - w0, _received(cfg, handle, meter) - n0
        out["cpu_pct"] = 100 * (c1 - c0) / wall
        out["fps"] = frames / wall
        out["latency_ms"] = [1000 * x for x in _latencies(cfg, handle, meter)[-frames:]] if frames > 0 else []
    finally:
        await close(handle)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
