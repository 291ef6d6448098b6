"""``connect()`` to the first remote frame: ours vs the official SDK.

    .venv/bin/python bench/bench_connect.py [--runs N] [--json PATH]

Both clients connect to the same local passthrough server (``decart-widgets
serve``, another process) with the same kind of source: a 1280x720 aiortc
track of the counter-stamped test pattern (ours: the session's default
source; the SDK's: an ``aiortc.VideoStreamTrack`` rendering the same
pattern). Each run is timed from calling ``connect`` to the first decoded
remote frame in Python (ours: ``OutputSink.first_frame_at``, stamped when
the decoded frame reaches the session; the SDK's: when ``recv()`` on its
remote track returns the first frame). Each client disconnects fully
between runs. The clients alternate ABBA after one discarded warm-up each
(the first connect in a process pays imports and codec set-up).

The SDK hard-codes Google's STUN server; as in our interop tests it is
patched away so that neither client waits on gathering from the network.
Our package also patches aiortc and aioice process-wide (release a frame on
the RTP marker bit, ``decart_widgets.common.jitter``; ICE done when its
checks are, ``decart_widgets.common.ice``); the SDK runs with both switched
off (``ENABLED = False``) so it is measured as shipped.
The server, in its own process, is the same for both.

Goals: ours <= 250 ms median and <= 0.5x the SDK's.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, bench_args, fmt_ms, local_server, summary  # noqa: E402
from aiortc import MediaStreamTrack, RTCConfiguration, VideoStreamTrack  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from decart import models  # noqa: E402
from decart.realtime import webrtc_connection  # noqa: E402
from decart.realtime.client import RealtimeClient  # noqa: E402
from decart.realtime.types import RealtimeConnectOptions  # noqa: E402

# our process-wide aiortc/aioice patches, where the tree has them; off while the SDK runs
_PATCHES: list[Any] = []
for _name in ("jitter", "ice"):
    try:
        _PATCHES.append(importlib.import_module(f"decart_widgets.common.{_name}"))
    except ImportError:  # pragma: no cover - older trees
        pass
from decart_widgets.media.convert import ndarray_to_frame  # noqa: E402
from decart_widgets.media.sources import TestPatternSource  # noqa: E402
from decart_widgets.session import RealtimeSession  # noqa: E402

GOAL_MS = 250.0
GOAL_RATIO = 0.5
W, H, FPS = 1280, 720, 30
FIRST_FRAME_TIMEOUT = 15.0
SETTLE_S = 0.3  # between runs, untimed: the server finishes closing the last stream

# the SDK's hard-coded STUN server, dropped as tests/test_interop_official_sdk.py does
webrtc_connection.RTCConfiguration = lambda iceServers=None: RTCConfiguration(iceServers=[])  # type: ignore[assignment]


class PatternTrack(VideoStreamTrack):
    """The test pattern at 1280x720, paced by aiortc's VideoStreamTrack clock."""

    def __init__(self) -> None:
        super().__init__()
        self._src = TestPatternSource()
        self._src.configure(W, H, FPS)
        self._count = 0

    async def recv(self) -> Any:
        pts, time_base = await self.next_timestamp()
        frame = ndarray_to_frame(self._src.render(self._count))
        frame.pts, frame.time_base = pts, time_base
        self._count += 1
        return frame


async def ours(url: str) -> dict[str, float]:
    t0 = time.perf_counter()
    session = await RealtimeSession.connect("lucy-2.1", base_url=url, api_key="bench")
    try:
        returned = time.perf_counter()
        if session.output.first_frame_at is None:
            await session.snapshot("output", timeout=FIRST_FRAME_TIMEOUT)
        first = session.output.first_frame_at
        assert first is not None
    except BaseException:
        session.disconnect()
        raise
    t1 = time.perf_counter()
    session.disconnect()
    return {
        "first_frame_ms": (first - t0) * 1000,
        "connect_ms": (returned - t0) * 1000,
        "disconnect_ms": (time.perf_counter() - t1) * 1000,
        "t0": t0,
    }


async def theirs(url: str) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[float] = loop.create_future()
    readers: list[asyncio.Task[None]] = []

    async def read(track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            if not first.done():
                first.set_result(time.perf_counter())

    def on_remote_stream(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            readers.append(asyncio.ensure_future(read(track)))

    track = PatternTrack()
    saved = [(patch, patch.ENABLED) for patch in _PATCHES]
    for patch, _ in saved:
        patch.ENABLED = False  # the SDK as shipped: aiortc's and aioice's own behaviour
    t0 = time.perf_counter()
    client = None
    try:
        client = await RealtimeClient.connect(
            base_url=url,
            api_key="bench",
            local_track=track,
            options=RealtimeConnectOptions(model=models.realtime("lucy-2.1"), on_remote_stream=on_remote_stream),
        )
        returned = time.perf_counter()
        t_first = await asyncio.wait_for(asyncio.shield(first), FIRST_FRAME_TIMEOUT)
        return {"first_frame_ms": (t_first - t0) * 1000, "connect_ms": (returned - t0) * 1000, "t0": t0}
    finally:
        if client is not None:
            await client.disconnect()
        for task in readers:
            task.cancel()
        if readers:
            await asyncio.wait(readers, timeout=5)
        track.stop()
        for patch, enabled in saved:
            patch.ENABLED = enabled


async def run(report: Report, runs: int) -> None:
    clients = {"ours": ours, "theirs": theirs}
    results: dict[str, list[dict[str, float]]] = {"ours": [], "theirs": []}
    failed: dict[str, list[str]] = {"ours": [], "theirs": []}
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        cold = {}
        for name in ("ours", "theirs"):  # warm-up, discarded
            cold[name] = (await clients[name](server.url))["first_frame_ms"]
            await asyncio.sleep(SETTLE_S)
        order = []
        for k in range(runs):  # ABBA: neither client always goes first
            order += ["ours", "theirs"] if k % 2 == 0 else ["theirs", "ours"]
        texture: list[float] = []
        for name in order:
            try:
                results[name].append(await clients[name](server.url))
            except Exception as exc:  # noqa: BLE001 - a failed run is reported, the others go on
                failed[name].append(f"{type(exc).__name__}: {exc}")
            settle = time.perf_counter() + SETTLE_S
            if name == "ours":
                # what ours spends building its default source inside connect()
                t = time.perf_counter()
                TestPatternSource().configure(W, H, FPS)
                texture.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(max(0.0, settle - time.perf_counter()))
        if not server.alive():
            raise RuntimeError("the local server died during the benchmark")

    for name, errors in failed.items():
        if errors:
            report.note(f"{name}: {len(errors)} of {runs} runs failed (first: {errors[0]})")
    o = summary([r["first_frame_ms"] for r in results["ours"]])
    t = summary([r["first_frame_ms"] for r in results["theirs"]])
    oc = summary([r["connect_ms"] for r in results["ours"]])
    tc = summary([r["connect_ms"] for r in results["theirs"]])
    report.row("ours: connect() -> first frame", fmt_ms(o, 1), f"<= {GOAL_MS:.0f} ms median", o["median"] <= GOAL_MS)
    report.row("official SDK 0.0.40: connect() -> first frame", fmt_ms(t, 1))
    ratio = o["median"] / t["median"]
    report.row("ours / SDK (medians)", f"{ratio:.2f}x", f"<= {GOAL_RATIO}x", ratio <= GOAL_RATIO)
    report.row("connect() returned (ours / SDK)", f"{oc['median']:.1f} / {tc['median']:.1f} ms median, "
               f"{oc['p95']:.1f} / {tc['p95']:.1f} p95")
    report.row("first connect in the process, discarded (ours / SDK)", f"{cold['ours']:.1f} / {cold['theirs']:.1f} ms")
    report.row("ours: disconnect()", fmt_ms(summary([r["disconnect_ms"] for r in results["ours"]]), 1))
    report.row("of ours: TestPatternSource.configure (default source set-up inside connect)",
               fmt_ms(summary(texture), 1))


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--runs", type=int, default=12, help="timed runs per client (default 12)")

    args = bench_args(__doc__, add)
    report = Report("bench_connect", "connect() -> first remote frame, ours vs decart==0.0.40, local passthrough server")
    asyncio.run(run(report, max(1, args.runs)))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
