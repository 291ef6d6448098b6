"""Helpers shared by the session benchmarks (bench_taps, bench_connect,
bench_cpu, bench_fps) and ``run_all.py``.

- statistics: :func:`summary` (median, p5, p95) and :func:`fmt_ms`;
- the machine: :func:`machine_line` (cores, CPU model, versions) and
  :func:`load_line` (``os.getloadavg()``, printed at the start and end of
  every bench so a run on a loaded machine is recognisable);
- :func:`local_server`: ``decart-widgets serve --port 0`` in a child process
  (so its CPU is not ours), waits until it listens, always stops it;
- CPU accounting from ``/proc``: a process's CPU seconds and this process's
  CPU seconds per thread (media loop, encoder workers, decoder thread, taps);
- :class:`Report`: rows with a PASS/FAIL verdict against a goal, printed and
  written as JSON for ``run_all.py``. A missed goal never changes the exit
  status: benchmarks measure, tests assert.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ------------------------------------------------------------------ statistics


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p5, p95, mean, min, max of ``values`` (NaN when empty)."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        nan = float("nan")
        return {"n": 0, "median": nan, "p5": nan, "p95": nan, "mean": nan, "min": nan, "max": nan}
    return {
        "n": int(arr.size),
        "median": float(np.median(arr)),
        "p5": float(np.percentile(arr, 5)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def fmt_ms(s: dict[str, float], digits: int = 3) -> str:
    """``median / p95 ms (n=...)`` for a :func:`summary` of milliseconds."""
    return f"{s['median']:.{digits}f} / {s['p95']:.{digits}f} ms (n={s['n']})"


# --------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions_line() -> str:
    import aiortc
    import av

    return f"python={platform.python_version()} aiortc={aiortc.__version__} av={av.__version__} numpy={np.__version__}"


def machine_line() -> str:
    return f"cores={os.cpu_count()} cpu={cpu_model()!r} {versions_line()}"


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def speed_probe_ms(frames: int = 40) -> float:
    """Median ms to VP8-encode one 1280x720 frame of the moving pattern with
    our encoder settings: 5.7-5.9 on this project's 2-core machine on a quiet
    host. The load average does not show a busy host (another machine's work
    on the same CPUs): the same idle VM has measured 10 ms here, and every
    figure of a bench run then is that much slower. Costs about half a second."""
    import fractions as _fractions

    from decart_widgets.common.bitrate import PinnedVp8Encoder
    from decart_widgets.common.yuv import ndarray_to_frame
    from decart_widgets.media.sources import TestPatternSource

    src = TestPatternSource()
    src.configure(1280, 720, 30)
    enc, times = PinnedVp8Encoder(2_500_000), []
    for i in range(frames):
        frame = ndarray_to_frame(src.render(i))
        frame.pts, frame.time_base = i * 3000, _fractions.Fraction(1, 90000)
        t0 = time.perf_counter()
        enc.encode(frame)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times[10:]))


def load_line(when: str) -> str:
    """The load average and the host's speed (:func:`speed_probe_ms`) at ``when``."""
    one, five, fifteen = loadavg()
    return (f"loadavg {when}: {one:.2f} {five:.2f} {fifteen:.2f} (cores={os.cpu_count()}); "
            f"speed probe: 720p VP8 encode {speed_probe_ms():.1f} ms (5.7-5.9 on a quiet host)")


# --------------------------------------------------------------- CPU from /proc


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _task_cpu_seconds(tid: int) -> float | None:
    try:
        text = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _thread_group(name: str) -> str:
    """Group worker threads: ``decart-media-loop-worker_3`` -> ``decart-media-loop-worker``."""
    return re.sub(r"[_-]\d+$", "", name)


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's live Python threads, by thread group."""
    out: dict[str, float] = {}
    for t in threading.enumerate():
        tid = t.native_id
        if tid is None:
            continue
        secs = _task_cpu_seconds(tid)
        if secs is None:
            continue
        key = _thread_group(t.name)
        out[key] = out.get(key, 0.0) + secs
    return out


def thread_cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per-group CPU seconds spent between two :func:`thread_cpu` readings.
    A thread group that appeared in between counts from zero."""
    return {k: after[k] - before.get(k, 0.0) for k in after}


# -------------------------------------------------------------- local server


@dataclass
class ServerProcess:
    """A running ``decart-widgets serve`` child process."""

    url: str
    pid: int
    popen: subprocess.Popen[str] = field(repr=False)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None


def _serve_command(model: str) -> list[str]:
    script = Path(sys.executable).with_name("decart-widgets")
    if not script.exists():
        found = shutil.which("decart-widgets")
        script = Path(found) if found else script
    if script.exists():
        return [sys.executable, str(script), "serve", "--port", "0", "--model", model]
    return [sys.executable, "-m", "decart_widgets.cli", "serve", "--port", "0", "--model", model]


@contextlib.contextmanager
def local_server(model: str = "passthrough", timeout: float = 30.0) -> Iterator[ServerProcess]:
    """``decart-widgets serve --port 0 --model MODEL`` in a child process.

    Yields once the server printed its URL; on exit sends SIGTERM (the CLI
    stops cleanly on it), waits, and kills if it has to. Never leaves the
    child running, whatever happens in the ``with`` body.
    """
    err = tempfile.TemporaryFile(mode="w+")
    popen = subprocess.Popen(
        _serve_command(model),
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps the pipe drained for the server's whole life
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="bench-server-stdout", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"local server did not start within {timeout:g} s")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                err.seek(0)
                raise RuntimeError(f"local server exited (rc={popen.wait()}): {err.read()[-2000:]}")
            m = re.search(r"listening at (ws://\S+)", line)
            if m:
                url = m.group(1)
        yield ServerProcess(url=url, pid=popen.pid, popen=popen)
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=10)
        reader.join(timeout=5)
        err.close()


# --------------------------------------------------------------------- report


class Report:
    """Rows of one benchmark: printed as they come, saved as JSON for run_all."""

    def __init__(self, bench: str, description: str) -> None:
        self.bench = bench
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.server_pids: list[int] = []
        self.load_start = loadavg()
        self.started = time.time()
        print(f"{bench}: {datetime.datetime.now().isoformat(timespec='seconds')} — {description}")
        print(machine_line())
        print(load_line("at start"))
        sys.stdout.flush()

    def row(self, measure: str, result: str, goal: str = "", ok: bool | None = None) -> None:
        """One result; ``ok`` None means 'for context' (no goal)."""
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append({"bench": self.bench, "measure": measure, "result": result, "goal": goal, "verdict": verdict})
        tail = f"   goal {goal}: {verdict}" if goal else ""
        print(f"  {measure}: {result}{tail}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def finish(self, json_path: str | None) -> int:
        load_end = loadavg()
        print(load_line("at end"))
        failed = [r["measure"] for r in self.rows if r["verdict"] == "FAIL"]
        print(f"{self.bench}: {'all goals met' if not failed else 'goals missed: ' + '; '.join(failed)}"
              f" ({time.time() - self.started:.0f} s)")
        if json_path:
            Path(json_path).write_text(json.dumps({
                "bench": self.bench,
                "rows": self.rows,
                "notes": self.notes,
                "load_start": self.load_start,
                "load_end": load_end,
                "server_pids": self.server_pids,
                "seconds": time.time() - self.started,
            }, indent=1))
        return 0  # a missed goal is a result, not an error


def bench_args(doc: str | None, add: Any = None) -> argparse.Namespace:
    """Parse the common ``--json PATH`` option (plus whatever ``add(parser)`` adds)."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--json", help="also write the result rows here (used by run_all.py)")
    if add is not None:
        add(parser)
    return parser.parse_args()


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"
