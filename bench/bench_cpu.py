"""Kernel CPU for one 1280x720@30 session through the local passthrough model.

    .venv/bin/python bench/bench_cpu.py [--windows N] [--seconds S] [--json PATH]

The server runs in another process (``decart-widgets serve --model
passthrough``) so its decode/encode is not counted; this process holds only
what a notebook kernel would: the session (test pattern source, VP8 encode
upstream, VP8 decode downstream, the media loop). After a warm-up, each
window measures this process's CPU time (``time.process_time()``, all
threads) over wall time: % of one core. The median of the windows is
compared with the goal; the server's CPU (from ``/proc/<pid>/stat``) and the
split of ours by thread (media loop, encoder workers, decoder thread) are
reported for context.

Goal: <= 50% of one core.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, bench_args, local_server, summary, thread_cpu, thread_cpu_delta  # noqa: E402

from decart_widgets.session import RealtimeSession  # noqa: E402

GOAL_PCT = 50.0
WARMUP_S = 3.0

THREAD_LABELS = {
    "decart-media-loop": "media loop (pacing, source, RTP/SRTP, jitter buffer)",
    "decart-media-loop-worker": "encoder workers (VP8 encode)",
    "video-decoder": "aiortc decoder thread (VP8 decode)",
    "MainThread": "main thread (this benchmark)",
}


async def run(report: Report, windows: int, seconds: float) -> None:
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        session = await RealtimeSession.connect("lucy-2.1", base_url=server.url, api_key="bench")
        try:
            await asyncio.sleep(WARMUP_S)
            ours: list[float] = []
            theirs: list[float] = []
            fps: list[float] = []
            fps_sent: list[float] = []
            by_thread: dict[str, list[float]] = {}
            for _ in range(windows):
                threads0 = thread_cpu()
                c0, s0, w0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
                n0, u0 = session.output.frames_received, session.stats()["frames_sent"]
                await asyncio.sleep(seconds)
                c1, s1, w1 = time.process_time(), server.cpu_seconds(), time.perf_counter()
                n1, u1 = session.output.frames_received, session.stats()["frames_sent"]
                wall = w1 - w0
                ours.append(100 * (c1 - c0) / wall)
                theirs.append(100 * (s1 - s0) / wall)
                fps.append((n1 - n0) / wall)
                fps_sent.append((u1 - u0) / wall)
                for name, secs in thread_cpu_delta(threads0, thread_cpu()).items():
                    by_thread.setdefault(name, []).append(100 * secs / wall)
                print(f"    window: kernel {ours[-1]:.1f}% of a core, server {theirs[-1]:.1f}%, "
                      f"{fps_sent[-1]:.1f} fps sent, {fps[-1]:.1f} fps received", flush=True)
            stats = session.stats()
        finally:
            session.disconnect()
    so, ss, sf = summary(ours), summary(theirs), summary(fps)
    report.row("kernel CPU, one 720p30 session (median of windows)",
               f"{so['median']:.1f}% of one core (windows: {', '.join(f'{x:.1f}' for x in ours)}; {windows} x {seconds:g} s)",
               f"<= {GOAL_PCT:.0f}%", so["median"] <= GOAL_PCT)
    su = summary(fps_sent)
    per_frame = so["median"] / 100 * 1000 / su["median"] if su["median"] else float("nan")
    report.row("kernel CPU per frame sent", f"{per_frame:.1f} ms ({su['median']:.1f} fps sent, "
               f"{sf['median']:.1f} fps received)")
    if sf["median"] and su["median"] and (sf["median"] < 29 or su["median"] < 29):
        # the decoder's share grows with the frames that come back; the rest with the frames sent
        dec = summary(by_thread.get("video-decoder", [0.0]))["median"]
        est = (so["median"] - dec) * 30 / su["median"] + dec * 30 / sf["median"]
        report.row("kernel CPU scaled to a full 30/30 fps (estimate)", f"{est:.1f}% of one core")
    report.row("server process CPU (context, not counted)", f"{ss['median']:.1f}% of one core")
    for name, values in sorted(by_thread.items(), key=lambda kv: -summary(kv[1])["median"]):
        med = summary(values)["median"]
        if med >= 0.5:
            report.row(f"  thread {name}", f"{med:.1f}% ({THREAD_LABELS.get(name, '')})".replace(" ()", ""))
    report.row("upstream bitrate (pinned default)", f"{(stats['bitrate_up'] or 0) / 1e6:.2f} Mbps up, "
               f"{(stats['bitrate_down'] or 0) / 1e6:.2f} Mbps down")


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--windows", type=int, default=3)
        p.add_argument("--seconds", type=float, default=10.0)

    args = bench_args(__doc__, add)
    report = Report("bench_cpu", "kernel CPU for one 1280x720@30 session, server in another process")
    asyncio.run(run(report, max(1, args.windows), args.seconds))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
