"""Both media links of ours and the official SDK 0.2.4, side by side, on the
same local server.

    .venv/bin/python bench/bench_links.py [--rounds N] [--window S] [--sdk-python PATH] [--json PATH]

Clients (each run is a fresh process, ``bench/_links_client.py``):

- ours over LiveKit (``media="livekit"``),
- ours over aiortc (``media="webrtc"``),
- the official Python SDK ``decart==0.2.4`` (LiveKit), unmodified, in its
  own venv (``.venv-sdk024``, built by ``make setup``; ``--sdk-python``
  points elsewhere).

All send the same moving, counter-stamped 1280x720 pattern at 30 fps
(``bench/_pattern.py``) to one local passthrough server (``decart-widgets
serve``, another process). Per run: the import, the cold connect (the first
connect of the process, what a notebook user sees: ``connect()`` → first
output frame), warm connects, then one session measured over ``--window``
seconds: the client process's CPU (all threads) as % of one core, output
fps, and end-to-end latency by the stamp (sent → decoded back). Rounds
alternate the clients' order. Medians and p95 are printed, with the load
average at the start and end: figures from a loaded machine are not final.

Goals (issue 8): ours over LiveKit at most 0.8x the SDK's CPU and at most
35% of one core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Report, bench_args, fmt_ms, local_server, summary  # noqa: E402

CLIENT = ROOT / "bench" / "_links_client.py"
GOAL_CPU_PCT = 35.0
GOAL_CPU_RATIO = 0.8


def clients(sdk_python: Path) -> dict[str, tuple[list[str], dict[str, Any]]]:
    out = {
        "ours, LiveKit": ([sys.executable, str(CLIENT)], {"client": "ours", "media": "livekit"}),
        "ours, aiortc": ([sys.executable, str(CLIENT)], {"client": "ours", "media": "webrtc"}),
    }
    if sdk_python.exists():
        out["decart==0.2.4"] = ([str(sdk_python), str(CLIENT)], {"client": "sdk"})
    return out


def run_client(argv: list[str], cfg: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run([*argv, json.dumps(cfg)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"client failed (rc={proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--rounds", type=int, default=3, help="fresh processes per client (default 3)")
        p.add_argument("--warm", type=int, default=3, help="warm connects per process (default 3)")
        p.add_argument("--window", type=float, default=10.0, help="seconds of the measured session (default 10)")
        p.add_argument("--sdk-python", default=str(ROOT / ".venv-sdk024" / "bin" / "python"),
                       help="the python of a venv with decart==0.2.4 and livekit")

    args = bench_args(__doc__, add)
    report = Report("bench_links", "both media links and decart==0.2.4 on one local server: connect, CPU, fps, latency")
    sdk = Path(args.sdk_python)
    todo = clients(sdk)
    if not sdk.exists():
        report.note(f"{sdk} missing (`make setup` builds .venv-sdk024): the official SDK is left out")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in todo}
    cfg = {"warm": args.warm, "window": args.window, "warmup": 3.0}
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        names = list(todo)
        for k in range(max(1, args.rounds)):
            for name in names if k % 2 == 0 else names[::-1]:
                argv, own = todo[name]
                try:
                    results[name].append(run_client(argv, {**cfg, **own, "url": server.url}, 60 + 3 * args.window))
                except Exception as exc:  # noqa: BLE001 - a failed run is reported, the others go on
                    report.note(f"{name}, round {k + 1} failed: {exc}")
                time.sleep(0.5)
        if not server.alive():
            raise RuntimeError("the local server died during the benchmark")

    cpu: dict[str, float] = {}
    for name, runs in results.items():
        if not runs:
            continue
        cold = summary([r["cold"]["first_frame_ms"] for r in runs])
        warm = summary([w["first_frame_ms"] for r in runs for w in r["warm"]])
        ret = summary([w["connect_ms"] for r in runs for w in r["warm"]])
        imp = summary([r["import_ms"] for r in runs])
        cpu_s = summary([r["cpu_pct"] for r in runs])
        fps = summary([r["fps"] for r in runs])
        lat = summary([x for r in runs for x in r["latency_ms"]])
        cpu[name] = cpu_s["median"]
        report.row(f"{name}: import", fmt_ms(imp, 0))
        report.row(f"{name}: cold connect() -> first frame", fmt_ms(cold, 0))
        report.row(f"{name}: warm connect() -> first frame", fmt_ms(warm, 0))
        report.row(f"{name}: warm connect() returned", fmt_ms(ret, 0))
        goal = name == "ours, LiveKit"
        cpu_runs = ", ".join(f"{r['cpu_pct']:.1f}" for r in runs)
        fps_runs = ", ".join(f"{r['fps']:.1f}" for r in runs)
        report.row(f"{name}: client process CPU, one 720p30 session",
                   f"{cpu_s['median']:.1f}% of one core (runs: {cpu_runs})",
                   f"<= {GOAL_CPU_PCT:.0f}%" if goal else "", cpu_s["median"] <= GOAL_CPU_PCT if goal else None)
        report.row(f"{name}: output fps", f"median {fps['median']:.1f} (runs: {fps_runs})")
        report.row(f"{name}: end-to-end latency by stamp", fmt_ms(lat, 1))
    base = "decart==0.2.4"
    for name in ("ours, LiveKit", "ours, aiortc"):
        if name in cpu and base in cpu and cpu[base] > 0:
            ratio = cpu[name] / cpu[base]
            goal = name == "ours, LiveKit"
            report.row(f"CPU {name} / SDK 0.2.4", f"{ratio:.2f}x",
                       f"<= {GOAL_CPU_RATIO}x" if goal else "", ratio <= GOAL_CPU_RATIO if goal else None)
    report.note("same pattern, same server; fresh process per run; cold = the process's first connect")
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
