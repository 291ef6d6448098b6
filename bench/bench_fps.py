"""Sustained output fps at 1280x720@30 through the local passthrough server.

    .venv/bin/python bench/bench_fps.py [--seconds S] [--json PATH]

The server runs in another process; the session (test pattern, 30 fps)
runs here. After a 3 s warm-up, frames received are sampled once a second
for ``--seconds``: median fps, p5 (the low seconds) and the fraction of
seconds at >= 29 fps; frames sent upstream per second alongside, to tell a
slow sender from a slow return path. End-to-end latency (counter stamp in
the pixels, sent -> decoded back) from ``session.stats()``.

Goal: median >= 29 fps.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, bench_args, local_server, pct, summary  # noqa: E402

from decart_widgets.session import RealtimeSession  # noqa: E402

GOAL_FPS = 29.0
WARMUP_S = 3.0


async def run(report: Report, seconds: int) -> None:
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        session = await RealtimeSession.connect("lucy-2.1", base_url=server.url, api_key="bench")
        try:
            await asyncio.sleep(WARMUP_S)
            out = session.output
            received: list[float] = []
            sent: list[float] = []
            start = time.perf_counter()
            n0, u0, t0 = out.frames_received, session.stats()["frames_sent"], start
            received_at_start = n0
            for k in range(1, seconds + 1):
                await asyncio.sleep(max(0.0, start + k - time.perf_counter()))
                n1, u1, t1 = out.frames_received, session.stats()["frames_sent"], time.perf_counter()
                received.append((n1 - n0) / (t1 - t0))
                sent.append((u1 - u0) / (t1 - t0))
                n0, u0, t0 = n1, u1, t1
            stats = session.stats()
            # the latencies of this window's frames (the deque keeps the newest 600)
            in_window = min(len(out.latencies), stats["frames_received"] - received_at_start)
            window_lat = list(out.latencies)[-in_window:] if in_window > 0 else []
        finally:
            session.disconnect()
    sr, ss = summary(received), summary(sent)
    at_goal = sum(1 for x in received if x >= GOAL_FPS) / len(received)
    report.row("output fps at 1280x720@30 (per-second samples)",
               f"median {sr['median']:.1f}, p5 {sr['p5']:.1f}, {pct(at_goal)} of {len(received)} s >= {GOAL_FPS:.0f}",
               f">= {GOAL_FPS:.0f} median", sr["median"] >= GOAL_FPS)
    report.row("upstream fps sent (same seconds)", f"median {ss['median']:.1f}, p5 {ss['p5']:.1f}")
    lat = summary([x * 1000 for x in window_lat])
    report.row("end-to-end latency (stamp; session.stats())",
               f"median {stats['latency_ms']:.1f} ms, p95 {stats['latency_p95_ms']:.1f} ms"
               + (f" (this window: {lat['median']:.1f} / {lat['p95']:.1f}, n={lat['n']})" if lat["n"] else ""))
    quality = stats["quality"]
    report.row("session quality verdict", f"{quality['level']}" + (f" (limited by {quality['limiting']})" if quality["limiting"] else "")
               if isinstance(quality, dict) else str(quality))


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--seconds", type=int, default=15)

    args = bench_args(__doc__, add)
    report = Report("bench_fps", "sustained output fps at 1280x720@30 through the local passthrough server")
    asyncio.run(run(report, max(2, args.seconds)))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
