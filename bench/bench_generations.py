"""The local server with both generations of official clients, side by side.

    .venv/bin/python bench/bench_generations.py [--runs N] [--window S] [--json PATH]

One local passthrough server (``decart-widgets serve``, its own process) and
the two official Python SDKs, unmodified, each in a fresh process per run:

- ``decart==0.2.4`` (LiveKit generation, in ``.venv-sdk024``: tests/_sdk024_peer.py),
- ``decart==0.0.40`` (direct WebRTC generation, in ``.venv``: bench/_sdk0040_peer.py).

Connect -> first frame: both publish a 1280x720 30 fps moving pattern and
time from calling ``connect()`` to the first decoded output frame, inside
their process (interpreter start and imports excluded; every connect is the
first of its process). Runs alternate ABAB; medians and p95 are printed.

Server CPU per 720p30 session: one session at a time per generation, the
server's CPU (utime + stime of its process, /proc) over ``--window`` seconds
of steady streaming, starting 2 s after the first frame. With the
passthrough model this is the transport's cost: decode, re-encode (VP8),
packets, and for LiveKit the signal and two peer connections.

The load average is printed at the start and end: figures from a loaded
machine are not final.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Report, bench_args, fmt_ms, local_server, pct, summary  # noqa: E402

SDK024 = ROOT / ".venv-sdk024" / "bin" / "python"
PEERS = {
    "decart==0.2.4 (LiveKit)": [str(SDK024), str(ROOT / "tests" / "_sdk024_peer.py")],
    "decart==0.0.40 (WebRTC)": [sys.executable, str(ROOT / "bench" / "_sdk0040_peer.py")],
}
SIZE = [1280, 720]
WARMUP_S = 2.0


def run_peer(argv: list[str], cfg: dict[str, Any], on_first_frame: Any = None, timeout: float = 90.0) -> dict[str, Any]:
    """Run one peer; ``on_first_frame()`` is called (on a thread) when it reports its first frame."""
    proc = subprocess.Popen([*argv, json.dumps(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)  # never blocks the peer
    drain.start()
    last = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            obj = json.loads(line)
            if obj.get("event") == "first_frame":
                if on_first_frame is not None:
                    on_first_frame()
            else:
                last = obj
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drain.join(5)
    if proc.returncode != 0 or last is None:
        raise RuntimeError(f"{argv[-1]} failed (rc={proc.returncode}): {''.join(err)[-2000:]}")
    return last


def main() -> int:
    args = bench_args(__doc__, lambda p: (p.add_argument("--runs", type=int, default=6),
                                          p.add_argument("--window", type=float, default=8.0)))
    report = Report("bench_generations", "connect -> first frame and server CPU per 720p30 session, "
                                         "decart==0.2.4 (LiveKit) vs decart==0.0.40 (WebRTC)")
    if not SDK024.exists():
        report.note(f"{SDK024} missing: `make setup` builds it; nothing measured")
        return report.finish(args.json)
    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        names = list(PEERS)
        connect: dict[str, list[float]] = {n: [] for n in names}
        first: dict[str, list[float]] = {n: [] for n in names}
        for run in range(args.runs):
            for name in names if run % 2 == 0 else names[::-1]:  # ABBA...: neither always goes first
                result = run_peer(PEERS[name], {"scenario": "session", "url": server.url, "size": SIZE,
                                                "initial": "prompt", "seconds": 0.0})
                connect[name].append(1000 * result["connect_s"])
                first[name].append(1000 * result["first_frame_s"])
                time.sleep(0.3)  # the server finishes closing the last stream, untimed
        for name in names:
            report.row(f"{name} connect()", fmt_ms(summary(connect[name]), 0))
            report.row(f"{name} connect() -> first frame", fmt_ms(summary(first[name]), 0))

        for name in names:
            shares, fps = [], []
            for _ in range(2):
                window = CpuWindow(server, args.window)
                result = run_peer(PEERS[name], {"scenario": "session", "url": server.url, "size": SIZE,
                                                "initial": "prompt", "progress": True,
                                                "seconds": WARMUP_S + args.window + 0.5},
                                  on_first_frame=window.start)
                shares.append(window.share())
                fps.append(result["fps"])
            report.row(f"{name} server CPU per 720p30 session",
                       f"{pct(summary(shares)['median'])} of a core (runs: {', '.join(pct(x) for x in shares)}); "
                       f"client received {summary(fps)['median']:.1f} fps")
    report.note("passthrough model; fresh process per connect (the first connect of a process)")
    return report.finish(args.json)


class CpuWindow:
    """The server's CPU share over ``window`` s, from ``WARMUP_S`` after :meth:`start`."""

    def __init__(self, server: Any, window: float) -> None:
        self._server, self._window = server, window
        self._thread: threading.Thread | None = None
        self._share = float("nan")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-cpu-window", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        time.sleep(WARMUP_S)
        t0, c0 = time.monotonic(), self._server.cpu_seconds()
        time.sleep(self._window)
        self._share = (self._server.cpu_seconds() - c0) / (time.monotonic() - t0)

    def share(self) -> float:
        if self._thread is not None:
            self._thread.join()
        return self._share


if __name__ == "__main__":
    sys.exit(main())
