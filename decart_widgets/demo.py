"""The main job (`make demo`): the embedded local server, a RealtimeSession
streaming the counter-stamped test pattern through it with prompt changes
and a reference image, and files a person can look at.

Writes into the output folder: ``side_by_side.mp4`` (input | output),
``contact_sheet.png`` (input/output pairs per phase) and ``summary.json``.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .media.recorder import Recorder
from .session import RealtimeSession

__all__ = ["run_demo", "PHASES"]

#: (seconds into the run, what is set, label for the contact sheet)
PHASES: list[tuple[float, dict[str, Any], str]] = [
    (0.0, {"prompt": "anime cartoon style"}, "prompt: anime cartoon style"),
    (2.5, {"prompt": "pencil sketch"}, "prompt: pencil sketch"),
    (5.0, {"prompt": "neon cyberpunk city", "image": "reference"}, "prompt: neon + reference image"),
    (7.5, {"prompt": "thermal camera"}, "prompt: thermal camera"),
]
_TILE = (480, 270)


def reference_image() -> np.ndarray:
    """A generated reference image (warm sunset palette): no files or downloads."""
    h, w = 256, 256
    yy = np.linspace(0, 1, h)[:, None]
    xx = np.linspace(0, 1, w)[None, :]
    r = 255 * (0.9 - 0.3 * yy) + 0 * xx
    g = 255 * (0.25 + 0.45 * (1 - yy)) * (0.8 + 0.2 * xx)
    b = 255 * (0.35 * yy + 0.1)
    img = np.stack([r + 0 * xx, g, b + 0 * xx], axis=-1)
    cv2.circle(img, (170, 90), 40, (255, 230, 120), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class _Collector:
    """Pairs output frames with the input frames that made them, off the media loop."""

    recorder: Recorder
    inputs: dict[int, np.ndarray] = field(default_factory=dict)
    samples: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    pairs: int = 0
    phase_label: str = ""
    _want_sample: bool = False
    _queue: "queue.Queue[Any]" = field(default_factory=lambda: queue.Queue(maxsize=60))

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decart-demo-collector", daemon=True)
        self._thread.start()

    def on_input(self, rgb: np.ndarray, index: int, t: float) -> None:
        # keep a small tile of each input frame, keyed by its stamp counter
        self.inputs[index] = cv2.resize(rgb, _TILE, interpolation=cv2.INTER_AREA)
        for old in [k for k in self.inputs if k < index - 90]:
            del self.inputs[old]
        return None

    def on_output(self, frame: Any, counter: int | None) -> None:
        src = self.inputs.get(counter) if counter is not None else None
        try:
            self._queue.put_nowait((src, frame, time.perf_counter()))
        except queue.Full:
            pass

    def sample_next(self, label: str) -> None:
        self.phase_label, self._want_sample = label, True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            src, frame, t = item
            out = cv2.resize(frame.to_ndarray(format="rgb24"), _TILE, interpolation=cv2.INTER_AREA)
            if src is None:
                src = np.zeros_like(out)
            self.recorder.write(np.hstack([src, out]), t)
            self.pairs += 1
            if self._want_sample:
                self._want_sample = False
                self.samples.append((self.phase_label, src, out))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.rectangle(img, (0, img.shape[0] - 24), (img.shape[1], img.shape[0]), (0, 0, 0), -1)
    cv2.putText(img, text, (6, img.shape[0] - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(samples: list[tuple[str, np.ndarray, np.ndarray]], path: Path) -> None:
    rows = [np.hstack([_label(src, "input (test pattern)"), _label(out, label)]) for label, src, out in samples]
    header = np.full((40, rows[0].shape[1], 3), 30, np.uint8)
    cv2.putText(header, "decart-widgets demo: local stand-in model (not Decart's), input | output",
                (10, 27), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = np.vstack([header, *rows])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


async def _drive(url: str, out_dir: Path, seconds_per_phase: float) -> dict[str, Any]:
    recorder = Recorder(out_dir / "side_by_side.mp4", fps=30)
    collector = _Collector(recorder)
    t0 = time.perf_counter()
    first = PHASES[0][1]
    session = await RealtimeSession.connect(
        "lucy-2.1", base_url=url, initial_state={"prompt": {"text": first["prompt"], "enhance": True}}
    )
    connect_s = time.perf_counter() - t0
    states: list[str] = []
    session.on("connection_change", states.append)
    session._pump.on_frame = collector.on_input
    session.output.listeners.append(collector.on_output)
    try:
        for i, (_, change, label) in enumerate(PHASES):
            if i:
                if "image" in change:
                    await session.set(prompt=change["prompt"], image=reference_image())
                else:
                    await session.set_prompt(change["prompt"])
            print(f"  [{time.perf_counter() - t0:5.1f} s] {label}")
            await asyncio.sleep(seconds_per_phase * 0.6)
            collector.sample_next(label)
            await asyncio.sleep(seconds_per_phase * 0.4)
        stats = session.stats()
        latencies = sorted(session.output.latencies)
    finally:
        session.disconnect()
        collector.close()
        recorder.stop()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else None
    return {
        "connect_time_ms": round(connect_s * 1000, 1),
        "frames_sent": stats["frames_sent"],
        "frames_received": stats["frames_received"],
        "fps_out": stats["fps_out"],
        "latency_median_ms": None if stats["latency_ms"] is None else round(stats["latency_ms"], 1),
        "latency_p95_ms": None if p95 is None else round(p95, 1),
        "time_to_first_frame_ms": None if stats["time_to_first_frame_s"] is None else round(stats["time_to_first_frame_s"] * 1000, 1),
        "generation_seconds": stats["generation_seconds"],
        "states": states,
        "pairs_recorded": collector.pairs,
        "samples": collector.samples,
    }


def run_demo(out_dir: str | Path = "demo-output", seconds_per_phase: float = 2.5) -> dict[str, Any]:
    from .server import LocalServer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print("decart-widgets demo: embedded local server (stand-in effects model), headless")
    with LocalServer().start_background() as server:
        print(f"  local server listening at {server.url}")
        result = asyncio.run(_drive(server.url, out, seconds_per_phase))
    samples = result.pop("samples")
    if samples:
        contact_sheet(samples, out / "contact_sheet.png")
    result["outputs"] = {
        "video": str(out / "side_by_side.mp4"),
        "contact_sheet": str(out / "contact_sheet.png"),
        "summary": str(out / "summary.json"),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    print(
        f"  connected in {result['connect_time_ms']} ms; frames sent {result['frames_sent']}, "
        f"received {result['frames_received']}; output {result['fps_out']} fps; "
        f"latency median {result['latency_median_ms']} ms (p95 {result['latency_p95_ms']} ms)"
    )
    for name, path in result["outputs"].items():
        print(f"  {name}: {path}")
    return result
