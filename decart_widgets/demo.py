"""The main job (`make demo`): the embedded local server, a RealtimeSession
streaming the counter-stamped test pattern through it with prompt changes
and a reference image, and files a person can look at.

Writes into the output folder: ``side_by_side.mp4`` (input | output),
``contact_sheet.png`` (input/output pairs per phase), ``frame_stats.png``
(a numpy tap's per-frame statistics, plotted) and ``summary.json``.
Everything uses the public API a notebook would use.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .media.taps import FrameInfo
from .session import RealtimeSession

__all__ = ["run_demo", "PHASES", "reference_image"]

#: (what is set, label for the contact sheet and the plot)
PHASES: list[tuple[dict[str, Any], str]] = [
    ({"prompt": "anime cartoon style"}, "anime"),
    ({"prompt": "pencil sketch"}, "sketch"),
    ({"prompt": "watercolor painting", "image": "reference"}, "watercolor + reference image"),
    ({"prompt": "thermal camera"}, "thermal"),
]
_TILE = (480, 270)


def reference_image() -> np.ndarray:
    """A generated reference image (warm sunset palette): no files or downloads."""
    h, w = 256, 256
    yy = np.linspace(0, 1, h)[:, None] * np.ones((1, w))
    xx = np.ones((h, 1)) * np.linspace(0, 1, w)[None, :]
    r = 255 * (0.95 - 0.25 * yy)
    g = 255 * (0.25 + 0.45 * (1 - yy)) * (0.8 + 0.2 * xx)
    b = 255 * (0.35 * yy + 0.1)
    img = np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
    cv2.circle(img, (170, 90), 40, (255, 230, 120), -1)
    return img


class _Research:
    """What a researcher's taps would do: per-frame numbers, and samples."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.rows: list[tuple[float, float, float, float, float]] = []  # t, diff, r, g, b
        self.samples: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._want: str | None = None

    def on_pair(self, inp: np.ndarray, out: np.ndarray, info: FrameInfo) -> None:
        small_in = inp[::4, ::4].astype(np.int16)
        small_out = out[::4, ::4]
        diff = float(np.abs(small_in - small_out).mean())
        r, g, b = (float(v) for v in small_out.reshape(-1, 3).mean(axis=0))
        with self.lock:
            self.rows.append((time.monotonic() - self.t0, diff, r, g, b))
            want, self._want = self._want, None
        if want is not None:
            tile = lambda a: cv2.resize(a, _TILE, interpolation=cv2.INTER_AREA)  # noqa: E731
            self.samples.append((want, tile(inp), tile(out)))

    def sample_next(self, label: str) -> None:
        with self.lock:
            self._want = label


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.rectangle(img, (0, img.shape[0] - 24), (img.shape[1], img.shape[0]), (0, 0, 0), -1)
    cv2.putText(img, text, (6, img.shape[0] - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(samples: list[tuple[str, np.ndarray, np.ndarray]], path: Path) -> None:
    rows = [np.hstack([_label(src, "input (test pattern)"), _label(out, f"output: {label}")]) for label, src, out in samples]
    header = np.full((40, rows[0].shape[1], 3), 30, np.uint8)
    cv2.putText(header, "decart-widgets demo: local stand-in model (not Decart's), input | output",
                (10, 27), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = np.vstack([header, *rows])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def plot_stats(rows: list[tuple[float, float, float, float, float]], marks: list[tuple[float, str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.array(rows)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(data[:, 0], data[:, 1], color="black", lw=1.2)
    ax1.set_ylabel("mean |input - output|")
    ax1.set_title("A numpy tap on every (input, output) pair: how much the model changes each frame")
    for name, col, color in (("red", 2, "tab:red"), ("green", 3, "tab:green"), ("blue", 4, "tab:blue")):
        ax2.plot(data[:, 0], data[:, col], color=color, lw=1.2, label=f"output mean {name}")
    ax2.set_ylabel("output mean colour")
    ax2.set_xlabel("seconds since connect")
    ax2.legend(loc="upper right", fontsize=8)
    for ax in (ax1, ax2):
        for t, label in marks:
            ax.axvline(t, color="grey", ls="--", lw=0.8)
            if ax is ax1:
                ax.text(t, ax.get_ylim()[1], f" {label}", va="top", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def _drive(url: str, out_dir: Path, seconds_per_phase: float) -> dict[str, Any]:
    research = _Research()
    t0 = time.perf_counter()
    first = PHASES[0][0]
    session = await RealtimeSession.connect(
        "lucy-2.1", base_url=url, initial_state={"prompt": {"text": first["prompt"], "enhance": True}}
    )
    connect_s = time.perf_counter() - t0
    research.t0 = time.monotonic()
    states: list[str] = []
    session.on("connection_change", states.append)
    session.on_pair(research.on_pair)
    marks: list[tuple[float, str]] = []
    try:
        with session.record(out_dir / "side_by_side.mp4", streams="side_by_side") as recording:
            for i, (change, label) in enumerate(PHASES):
                if i:
                    if "image" in change:
                        await session.set(prompt=change["prompt"], image=reference_image())
                    else:
                        await session.set_prompt(change["prompt"])
                marks.append((time.monotonic() - research.t0, label))
                print(f"  [{marks[-1][0]:5.1f} s] prompt: {change['prompt']}" + (" + reference image" if "image" in change else ""))
                await asyncio.sleep(seconds_per_phase * 0.6)
                research.sample_next(label)
                await asyncio.sleep(seconds_per_phase * 0.4)
            stats = session.stats()
    finally:
        session.disconnect()
    return {
        "connect_time_ms": round(connect_s * 1000, 1),
        "frames_sent": stats["frames_sent"],
        "frames_received": stats["frames_received"],
        "fps_out": stats["fps_out"],
        "latency_median_ms": None if stats["latency_ms"] is None else round(stats["latency_ms"], 1),
        "latency_p95_ms": None if stats["latency_p95_ms"] is None else round(stats["latency_p95_ms"], 1),
        "time_to_first_frame_ms": None if stats["time_to_first_frame_s"] is None else round(stats["time_to_first_frame_s"] * 1000, 1),
        "generation_seconds": stats["generation_seconds"],
        "quality": stats["quality"]["level"],
        "states": states,
        "frames_recorded": recording.frames_written,
        "pairs_analysed": len(research.rows),
        "_samples": research.samples,
        "_rows": research.rows,
        "_marks": marks,
    }


def run_demo(out_dir: str | Path = "demo-output", seconds_per_phase: float = 2.5) -> dict[str, Any]:
    from .server import LocalServer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print("decart-widgets demo: embedded local server (stand-in effects model), headless")
    with LocalServer().start_background() as server:
        print(f"  local server listening at {server.url}")
        result = asyncio.run(_drive(server.url, out, seconds_per_phase))
    samples, rows, marks = result.pop("_samples"), result.pop("_rows"), result.pop("_marks")
    if samples:
        contact_sheet(samples, out / "contact_sheet.png")
    if rows:
        plot_stats(rows, marks, out / "frame_stats.png")
    result["outputs"] = {
        "video": str(out / "side_by_side.mp4"),
        "contact_sheet": str(out / "contact_sheet.png"),
        "frame_stats_plot": str(out / "frame_stats.png"),
        "summary": str(out / "summary.json"),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    print(
        f"  connected in {result['connect_time_ms']} ms; frames sent {result['frames_sent']}, "
        f"received {result['frames_received']}, recorded {result['frames_recorded']}; "
        f"output {result['fps_out']} fps; latency median {result['latency_median_ms']} ms "
        f"(p95 {result['latency_p95_ms']} ms); a numpy tap analysed {result['pairs_analysed']} input/output pairs"
    )
    for name, path in result["outputs"].items():
        print(f"  {name}: {path}")
    return result
