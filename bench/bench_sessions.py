"""Several 1280x720@30 sessions in one process against one local server
(another process): per-session output fps, the longest stall, and CPU per
delivered frame (kernel process + server process), for 1, 2 and 4 sessions.

    .venv/bin/python bench/bench_sessions.py [--counts 1,2,4] [--seconds 15] [--media webrtc]

Each session sends the counter-stamped test pattern through the passthrough
server. Frames received are sampled every 50 ms: a stall is the longest
time a session's count did not move (so it is measured to about 50 ms).
Goals (issue "performance under pressure"): four sessions each >= 12 fps,
no stall over 0.5 s, CPU per delivered frame within 1.3x of one session's;
two sessions >= 29.5 fps each.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, bench_args, local_server, proc_cpu_seconds, summary  # noqa: E402

from decart_widgets.session import RealtimeSession  # noqa: E402

WARMUP_S = 3.0
SAMPLE_S = 0.05


async def measure(url: str, count: int, seconds: float, media: str | None, server_pid: int) -> dict[str, Any]:
    extra = {"media": media} if media else {}
    sessions = await asyncio.gather(*(
        RealtimeSession.connect("lucy-2.1", base_url=url, api_key="bench", **extra) for _ in range(count)
    ))
    try:
        await asyncio.sleep(WARMUP_S)
        counts = [s.output.frames_received for s in sessions]
        last_move = [time.perf_counter()] * count
        stall = [0.0] * count
        per_second: list[list[float]] = [[] for _ in range(count)]
        second_start, second_counts = time.perf_counter(), list(counts)
        start_counts = list(counts)
        cpu0, srv0, t0 = proc_cpu_seconds(os.getpid()), proc_cpu_seconds(server_pid), time.perf_counter()
        while (now := time.perf_counter()) - t0 < seconds:
            await asyncio.sleep(SAMPLE_S)
            now = time.perf_counter()
            for i, s in enumerate(sessions):
                n = s.output.frames_received
                if n != counts[i]:
                    counts[i], last_move[i] = n, now
                stall[i] = max(stall[i], now - last_move[i])
            if now - second_start >= 1.0:
                for i in range(count):
                    per_second[i].append((counts[i] - second_counts[i]) / (now - second_start))
                second_start, second_counts = now, list(counts)
        elapsed = time.perf_counter() - t0
        kernel_cpu = proc_cpu_seconds(os.getpid()) - cpu0
        server_cpu = proc_cpu_seconds(server_pid) - srv0
        delivered = sum(counts) - sum(start_counts)
        latencies = [s.stats()["latency_ms"] for s in sessions]
    finally:
        for s in sessions:
            s.disconnect()
    return {
        "fps": [summary(p)["median"] for p in per_second],
        "fps_low": [summary(p)["p5"] for p in per_second],
        "stall_s": stall,
        "kernel_pct": 100 * kernel_cpu / elapsed,
        "server_pct": 100 * server_cpu / elapsed,
        "cpu_ms_per_frame": 1000 * (kernel_cpu + server_cpu) / max(1, delivered),
        "latency_ms": latencies,
    }


async def run(report: Report, counts: list[int], seconds: float, media: str | None) -> None:
    results: dict[int, dict[str, Any]] = {}
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        for n in counts:
            results[n] = r = await measure(server.url, n, seconds, media, server.pid)
            await asyncio.sleep(1.0)  # the server finishes closing the last streams
            fps = ", ".join(f"{x:.1f}" for x in r["fps"])
            stalls = max(r["stall_s"])
            lat = ", ".join("-" if x is None else f"{x:.0f}" for x in r["latency_ms"])
            verdict: bool | None = None
            goal = ""
            if n == 2:
                goal, verdict = ">= 29.5 fps each", min(r["fps"]) >= 29.5
            elif n == 4:
                base = results.get(1)
                ratio_ok = base is None or r["cpu_ms_per_frame"] <= 1.3 * base["cpu_ms_per_frame"]
                goal = ">= 12 fps each, stall <= 0.5 s, CPU/frame <= 1.3x one session's"
                verdict = min(r["fps"]) >= 12 and stalls <= 0.5 and ratio_ok
            report.row(f"{n} session(s): output fps each (median of seconds)", fps, goal, verdict)
            report.row(f"{n} session(s): lowest second / longest stall",
                       f"{min(r['fps_low']):.1f} fps / {stalls * 1000:.0f} ms")
            report.row(f"{n} session(s): CPU kernel / server / per delivered frame",
                       f"{r['kernel_pct']:.0f}% / {r['server_pct']:.0f}% / {r['cpu_ms_per_frame']:.1f} ms")
            report.row(f"{n} session(s): stamp latency median each", f"{lat} ms")
    if 1 in results and 4 in results:
        report.row("CPU per delivered frame, 4 sessions / 1",
                   f"{results[4]['cpu_ms_per_frame'] / results[1]['cpu_ms_per_frame']:.2f}x")


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--counts", default="1,2,4")
        p.add_argument("--seconds", type=float, default=15.0)
        p.add_argument("--media", default=None, help="media link (webrtc | livekit), where the session supports it")

    args = bench_args(__doc__, add)
    counts = [int(x) for x in args.counts.split(",")]
    report = Report("bench_sessions", f"{'/'.join(map(str, counts))} sessions at 1280x720@30 in one process"
                    + (f" over {args.media}" if args.media else ""))
    asyncio.run(run(report, counts, args.seconds, args.media))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
