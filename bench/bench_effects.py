"""Time every style of the local server's default model at 1280x720.

    .venv/bin/python bench/bench_effects.py [--iterations N] [--sheet PATH]

The server must sustain 720p at 30 fps while it also decodes and encodes
video on the same two cores, so every style has to stay well under 20 ms per
frame (the goal printed in the table). The input is a textured synthetic
scene that moves from frame to frame (gradients, shapes, text, noise), not a
flat colour, so the filters do real work. ``--sheet`` also writes a PNG
contact sheet of every style applied to one frame.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decart_widgets.server.effects import STYLES, EffectsModel, describe  # noqa: E402
from decart_widgets.server.model_api import ModelState  # noqa: E402

GOAL_MS = 20.0


def synthetic_frame(width: int = 1280, height: int = 720, t: int = 0) -> np.ndarray:
    """A natural-looking moving RGB test scene: sky, ground, sun, shapes, text, noise."""
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    horizon = 0.58
    sky = np.stack([90 + 80 * ys + 0 * xs, 140 + 60 * ys + 0 * xs, 235 - 40 * ys + 0 * xs], axis=-1)
    ground = np.stack(
        [70 + 60 * (ys - horizon) + 20 * xs, 120 + 40 * xs + 0 * ys, 50 + 0 * xs + 0 * ys], axis=-1
    )
    img = np.where((ys < horizon)[..., None], sky, ground)
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 6.0, (height, width, 1)).astype(np.float32)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    s = min(width, height) / 720.0
    shift = int(t * 4 * s)
    cv2.circle(
        img, (int(width * 0.8), int(height * 0.2)), int(70 * s), (255, 220, 120), -1, cv2.LINE_AA
    )
    for i in range(7):  # houses moving right
        x = (int(i * width / 6.5) + shift) % (width + int(200 * s)) - int(100 * s)
        hh = int((80 + 30 * (i % 3)) * s)
        colour = [(200, 60, 50), (230, 200, 70), (80, 90, 200), (240, 240, 230)][i % 4]
        y1 = int(height * horizon)
        cv2.rectangle(img, (x, y1 - hh), (x + int(110 * s), y1), colour, -1)
        cv2.rectangle(
            img, (x + int(40 * s), y1 - int(45 * s)), (x + int(70 * s), y1), (60, 40, 30), -1
        )
        pts = np.array(
            [
                [x - int(10 * s), y1 - hh],
                [x + int(55 * s), y1 - hh - int(50 * s)],
                [x + int(120 * s), y1 - hh],
            ],
            np.int32,
        )
        cv2.fillPoly(img, [pts], (120, 40, 40), cv2.LINE_AA)
    for i in range(12):  # trees
        x = int((i * 0.09 + 0.03) * width)
        y = int(height * (0.72 + 0.2 * ((i * 37) % 10) / 10))
        cv2.circle(img, (x, y - int(40 * s)), int(35 * s), (30, 110 + 8 * i, 40), -1, cv2.LINE_AA)
        cv2.rectangle(
            img,
            (x - int(6 * s), y - int(10 * s)),
            (x + int(6 * s), y + int(20 * s)),
            (90, 60, 30),
            -1,
        )
    cx = int(width * 0.5 + width * 0.3 * np.sin(t / 20.0))
    cv2.circle(img, (cx, int(height * 0.45)), int(40 * s), (230, 40, 160), -1, cv2.LINE_AA)
    cv2.putText(
        img,
        "decart-widgets",
        (int(40 * s), int(height * 0.93)),
        cv2.FONT_HERSHEY_DUPLEX,
        1.6 * s,
        (250, 250, 250),
        max(1, int(2 * s)),
        cv2.LINE_AA,
    )
    return img


def cases() -> list[tuple[str, str | None, bool]]:
    """(row label, prompt, with reference image)."""
    rows: list[tuple[str, str | None, bool]] = [("passthrough", None, False)]
    rows += [(name, f"{keywords[0]} style", False) for name, keywords in STYLES.items()]
    rows += [
        ("tint", "a quiet town at dusk", False),
        ("palette", None, True),
        ("palette+anime", "anime", True),
        ("palette+sketch", "pencil sketch", True),
    ]
    return rows


def reference_image() -> np.ndarray:
    """A warm, orange-pink reference picture (a sunset palette)."""
    ys = np.linspace(0.0, 1.0, 360, dtype=np.float32)[:, None, None]
    top = np.array([250, 150, 90], np.float32)
    bottom = np.array([120, 40, 90], np.float32)
    img = (top * (1 - ys) + bottom * ys) * np.ones((1, 480, 1), np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def run(iterations: int = 100, width: int = 1280, height: int = 720) -> list[dict]:
    frames = [synthetic_frame(width, height, t) for t in range(8)]
    ref = reference_image()
    model = EffectsModel()
    results = []
    for version, (label, prompt, with_image) in enumerate(cases()):
        state = ModelState(prompt=prompt, image=ref if with_image else None, version=version)
        for i in range(5):  # warm-up: caches, LUTs, per-size grids
            model(frames[i % len(frames)], state)
        times = []
        for i in range(iterations):
            frame = frames[i % len(frames)]
            t0 = time.perf_counter()
            model(frame, state)
            times.append((time.perf_counter() - t0) * 1000.0)
        arr = np.array(times)
        results.append(
            {
                "style": label,
                "describe": describe(state),
                "median_ms": float(np.median(arr)),
                "p95_ms": float(np.percentile(arr, 95)),
            }
        )
    return results


def contact_sheet(path: str, width: int = 640, height: int = 360) -> None:
    frame = synthetic_frame(width, height, 10)
    ref = reference_image()
    model = EffectsModel()
    tiles = []
    for version, (label, prompt, with_image) in enumerate(cases()):
        state = ModelState(prompt=prompt, image=ref if with_image else None, version=version)
        tile = model(frame, state).copy()
        cv2.putText(
            tile, label, (8, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA
        )
        cv2.putText(
            tile,
            label,
            (8, height - 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7,
            (255, 255, 0),
            2,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(frame))
    rows = [np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(path, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--sheet", help="also write a PNG contact sheet here")
    args = parser.parse_args(argv)

    print(f"bench_effects: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"cpu_count={os.cpu_count()} cv2={cv2.__version__} cv2.threads={cv2.getNumThreads()} "
        f"numpy={np.__version__} python={platform.python_version()} {platform.machine()}"
    )
    print(f"1280x720 textured moving frame, {args.iterations} iterations after 5 warm-up\n")
    results = run(args.iterations)
    print(f"| {'style':<16} | {'median ms':>9} | {'p95 ms':>7} | goal < {GOAL_MS:.0f} ms |")
    print(f"|{'-' * 18}|{'-' * 11}|{'-' * 9}|{'-' * 14}|")
    ok = True
    for r in results:
        passed = r["median_ms"] < GOAL_MS and r["p95_ms"] < GOAL_MS
        ok &= passed
        print(
            f"| {r['style']:<16} | {r['median_ms']:9.2f} | {r['p95_ms']:7.2f} | "
            f"{'pass' if passed else 'FAIL':<12} |"
        )
    if args.sheet:
        contact_sheet(args.sheet)
        print(f"\ncontact sheet: {args.sheet}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
