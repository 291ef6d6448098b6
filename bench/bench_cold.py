"""The first ``connect()`` in a fresh process -> first output frame (what a
notebook user waits for), with and without the background warm-up
(``decart_widgets._warmup``) that a kernel starts on import.

Each run is a new Python process against one local passthrough server (its
own process): import the package, then either connect at once ("cold"), or
start the warm-up, let 1 s pass as if the user typed the next cell, and
connect ("warmed"); a second connect in the same process gives the warm
figure. Modes alternate so machine noise hits both.

    .venv/bin/python bench/bench_cold.py [--runs 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_ms, load_line, local_server, machine_line, summary  # noqa: E402

CHILD = r"""
import asyncio, json, sys, time
t0 = time.perf_counter()
import decart_widgets
from decart_widgets import _warmup
import_ms = (time.perf_counter() - t0) * 1000
if sys.argv[2] == "warmed":
    _warmup.warmup.start()
    time.sleep(1.0)
from decart_widgets import RealtimeSession

async def once():
    t = time.perf_counter()
    s = await RealtimeSession.connect("lucy-2.1", base_url=sys.argv[1])
    connect = (time.perf_counter() - t) * 1000
    await s.snapshot()
    first = (s.output.first_frame_at - t) * 1000
    s.disconnect()
    return connect, first

first = asyncio.run(once())
second = asyncio.run(once())
print(json.dumps({"import_ms": import_ms, "connect_ms": first[0], "first_frame_ms": first[1],
                  "warm_first_frame_ms": second[1], "warmup": _warmup.warmup.timings}))
"""


def main(runs: int) -> None:
    print("bench_cold: first connect() in a fresh process -> first output frame, 1280x720")
    print(machine_line())
    print(load_line("start"))
    results: dict[str, list[dict]] = {"cold": [], "warmed": []}
    with local_server() as server:
        for _ in range(runs):
            for mode in ("cold", "warmed"):
                out = subprocess.run([sys.executable, "-c", CHILD, server.url, mode],
                                     capture_output=True, text=True, timeout=120, check=True)
                results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for mode, rows in results.items():
        print(f"  {mode:6s}: import {fmt_ms(summary([r['import_ms'] for r in rows]), 0)}"
              f"  connect {fmt_ms(summary([r['connect_ms'] for r in rows]), 0)}"
              f"  first frame {fmt_ms(summary([r['first_frame_ms'] for r in rows]), 0)}"
              f"  then warm {fmt_ms(summary([r['warm_first_frame_ms'] for r in rows]), 0)}")
    steps = results["warmed"][-1]["warmup"]
    print("  warm-up steps (last run): " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in steps.items()))
    print(load_line("end"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    main(parser.parse_args().runs)
