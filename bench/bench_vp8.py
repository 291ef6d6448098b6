"""VP8 at 1280x720, 2.5 Mbps: aiortc's libvpx settings vs decart_widgets'
faster ones (PinnedVp8Encoder, FAST_OPTIONS). Encode time and PSNR on the
moving textured test pattern, alternating per frame so noise hits both.

    .venv/bin/python bench/bench_vp8.py [--frames 150]
"""

from __future__ import annotations

import argparse
import fractions
import os
import time

import av
import numpy as np
from aiortc.codecs.vpx import vp8_depayload

from decart_widgets.common.bitrate import PinnedVp8Encoder
from decart_widgets.media.convert import ndarray_to_frame
from decart_widgets.media.sources import TestPatternSource


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-9)))


def main(frames: int, bitrate: int) -> None:
    print(f"bench_vp8: 1280x720 @ {bitrate / 1e6:.1f} Mbps, {frames} frames; cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    src = TestPatternSource()
    src.configure(1280, 720, 30)
    encoders = {"aiortc settings": PinnedVp8Encoder(bitrate, fast=False), "fast settings": PinnedVp8Encoder(bitrate, fast=True)}
    decoders = {name: av.CodecContext.create("libvpx", "r") for name in encoders}
    times: dict[str, list[float]] = {n: [] for n in encoders}
    quality: dict[str, list[float]] = {n: [] for n in encoders}
    sizes: dict[str, int] = {n: 0 for n in encoders}
    tb = fractions.Fraction(1, 90000)
    for i in range(frames):
        rgb = src.render(i)
        for name, enc in encoders.items():
            frame = ndarray_to_frame(rgb)
            frame.pts, frame.time_base = i * 3000, tb
            t0 = time.perf_counter()
            payloads, _ = enc.encode(frame)
            times[name].append((time.perf_counter() - t0) * 1000)
            # the payloads carry VP8 descriptors: strip them to decode
            raw = b"".join(vp8_depayload(p) for p in payloads)
            sizes[name] += len(raw)
            for out in decoders[name].decode(av.Packet(raw)):
                if i >= 30:  # after the first second (rate control settled)
                    quality[name].append(psnr(out.to_ndarray(format="rgb24"), rgb))
    base = np.median(times["aiortc settings"])
    for name in encoders:
        t = np.array(times[name][10:])
        print(f"  {name:16s} encode median {np.median(t):5.2f} ms  p95 {np.percentile(t, 95):5.2f} ms  "
              f"PSNR median {np.median(quality[name]):5.2f} dB  {sizes[name] * 8 / (frames / 30) / 1e6:4.2f} Mbps")
    print(f"  ratio fast/aiortc encode time: {np.median(times['fast settings']) / base:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--bitrate", type=int, default=2_500_000)
    args = parser.parse_args()
    main(args.frames, args.bitrate)
