"""What a numpy frame tap costs the video, at 1280x720.

    .venv/bin/python bench/bench_taps.py [--frames N] [--segments N] [--json PATH]

A tap's callback runs on its own worker thread; what the media loop pays
per frame is building a ``FrameInfo`` and dropping the frame into the
tap's one-frame slot. Measured where it is paid, on real decoded 720p VP8
frames (the test pattern through aiortc's own VP8 encoder and decoder):

1. ``offer``: ``FrameInfo(...)`` + ``TapSet.offer`` per frame, 0 vs 1 no-op tap;
2. output path: ``OutputSink.push`` (the whole per-frame media-loop work on
   a received frame: stamp read, latency, ``FrameHub._on_output``) with 0
   vs 1 no-op output tap;
3. input path: ``FrameHub.process_input`` with 0 vs 1 no-op input tap.

The two cases alternate in blocks (A, B, A, B...) so machine noise hits
both, and frames are paced (a short sleep between them) so the tap worker
converts and calls back concurrently, as in a live session. Goal: the
difference (B - A) <= 0.5 ms per frame, median and p95.

4. live: output fps of a session against a local passthrough server (in
   another process), alternating segments with no callback and with a
   callback that sleeps 200 ms. Goal: equal fps (ratio within 5%).
"""

from __future__ import annotations

import asyncio
import fractions
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import av  # noqa: E402
import numpy as np  # noqa: E402
from _common import Report, bench_args, fmt_ms, local_server, summary  # noqa: E402
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor  # noqa: E402
from aiortc.jitterbuffer import JitterFrame  # noqa: E402

from decart_widgets.media.convert import ndarray_to_frame  # noqa: E402
from decart_widgets.media.frames import FrameHub  # noqa: E402
from decart_widgets.media.meters import LatencyMeter  # noqa: E402
from decart_widgets.media.output import OutputSink  # noqa: E402
from decart_widgets.media.sources import TestPatternSource  # noqa: E402
from decart_widgets.media.taps import FrameInfo, TapSet  # noqa: E402
from decart_widgets.media.track import FramePump  # noqa: E402
from decart_widgets.session import RealtimeSession  # noqa: E402

W, H, FPS = 1280, 720, 30
GOAL_MS = 0.5
GAP_S = 0.0015  # pause between frames: lets the tap worker run, as between live frames
BLOCK = 100  # frames per A or B block


def pattern_rgb(count: int) -> list[np.ndarray]:
    src = TestPatternSource()
    src.configure(W, H, FPS)
    return [src.render(i) for i in range(count)]


def decoded_frames(rgb: list[np.ndarray]) -> list[av.VideoFrame]:
    """The frames through aiortc's VP8 encoder, RTP payloading and decoder:
    what a session's output track hands to ``OutputSink.push``."""
    enc, dec = Vp8Encoder(), Vp8Decoder()
    out: list[av.VideoFrame] = []
    for i, img in enumerate(rgb):
        frame = ndarray_to_frame(img)
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        payloads, ts = enc.encode(frame, force_keyframe=(i == 0))
        data = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
        out += dec.decode(JitterFrame(data=data, timestamp=ts))
    return out


class Hub:
    """A FrameHub wired as a session wires it, minus the network."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        latency = LatencyMeter()
        self.hub = FrameHub(loop, FPS, latency, lambda err: None)
        self.pump = FramePump(TestPatternSource(), W, H, FPS, latency=latency,
                              process=self.hub.process_input, needs_pixels=self.hub.needs_input_pixels)
        self.sink = OutputSink(latency, on_frame=self.hub.on_output)

    def close(self) -> None:
        self.hub.close()
        self.pump.stop()


def noop(frame: np.ndarray, info: FrameInfo) -> None:
    pass


def _drive(coro: Any) -> Any:
    """Run a coroutine that never suspends (no transforms) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("process_input suspended (a transform is registered?)")


def alternate(blocks: int, step_a: Callable[[int], None], step_b: Callable[[int], None]) -> tuple[list[float], list[float]]:
    """Time ``step(i)`` per frame in alternating A/B blocks; ms per frame."""
    times: tuple[list[float], list[float]] = ([], [])
    clock = time.perf_counter_ns
    i = 0
    for b in range(2 * blocks):
        which = b % 2
        step = step_a if which == 0 else step_b
        sink = times[which]
        for _ in range(BLOCK):
            t0 = clock()
            step(i)
            sink.append((clock() - t0) / 1e6)
            i += 1
            time.sleep(GAP_S)
        time.sleep(0.02)  # the tap worker drains before the other case starts
    return times


def overhead_rows(report: Report, name: str, a: list[float], b: list[float]) -> None:
    sa, sb = summary(a), summary(b)
    d_med, d_p95 = sb["median"] - sa["median"], sb["p95"] - sa["p95"]
    report.row(f"{name}, 0 taps", fmt_ms(sa))
    report.row(f"{name}, 1 no-op tap", fmt_ms(sb))
    report.row(
        f"{name}: tap overhead per frame",
        f"{d_med:+.3f} ms median, {d_p95:+.3f} ms p95 (ratio {sb['median'] / sa['median']:.2f}x)",
        f"<= {GOAL_MS} ms",
        d_med <= GOAL_MS and d_p95 <= GOAL_MS,
    )


def media_loop_costs(report: Report, frames_per_case: int) -> None:
    rgb = pattern_rgb(60)
    t0 = time.perf_counter()
    frames = decoded_frames(rgb)
    print(f"  ({len(frames)} distinct decoded 1280x720 frames in {time.perf_counter() - t0:.1f} s; "
          f"cycled over {frames_per_case} timed frames per case, {BLOCK}-frame blocks, "
          f"{GAP_S * 1000:.1f} ms between frames)", flush=True)
    blocks = max(1, frames_per_case // BLOCK)
    loop = asyncio.new_event_loop()
    a, b = Hub(loop), Hub(loop)
    try:
        tap_b = b.hub.on_frame(noop, "output")
        b.hub.on_frame(noop, "input")
        assert tap_b is not None
        n = len(frames)

        # 1. FrameInfo + TapSet.offer, exactly as FrameHub.on_output does it
        def offer(taps: TapSet) -> Callable[[int], None]:
            def step(i: int) -> None:
                frame = frames[i % n]
                if taps:
                    info = FrameInfo("output", i, frame.pts, time.time(), i % n)
                    taps.offer(frame, info)
            return step

        ta, tb = alternate(blocks, offer(a.hub.output_taps), offer(b.hub.output_taps))
        overhead_rows(report, "FrameInfo + TapSet.offer", ta, tb)

        # 2. the whole media-loop work per received frame
        ta, tb = alternate(blocks, lambda i: a.sink.push(frames[i % n]), lambda i: b.sink.push(frames[i % n]))
        overhead_rows(report, "OutputSink.push (output path)", ta, tb)
        report.row("the no-op output tap's worker over both output runs: frames delivered / skipped",
                   f"{tap_b.delivered} / {tap_b.skipped}")

        # 3. the input path before the encoder
        m = len(rgb)
        ta, tb = alternate(
            max(1, blocks // 2),
            lambda i: _drive(a.hub.process_input(rgb[i % m], i, i / FPS)),
            lambda i: _drive(b.hub.process_input(rgb[i % m], i, i / FPS)),
        )
        overhead_rows(report, "FrameHub.process_input (input path)", ta, tb)
    finally:
        a.close()
        b.close()
        loop.close()


async def live_fps(report: Report, segments: int, seconds: float) -> None:
    """Output fps with no callback (A) vs a 200 ms callback (B), alternating."""
    delivered = 0

    def slow(frame: np.ndarray, info: FrameInfo) -> None:
        nonlocal delivered
        delivered += 1
        time.sleep(0.2)

    with local_server("passthrough") as server:
        report.server_pids.append(server.pid)
        session = await RealtimeSession.connect("lucy-2.1", base_url=server.url, api_key="bench")
        try:
            await asyncio.sleep(3.0)  # warm-up: first keyframes, jitter buffer
            fps: tuple[list[float], list[float]] = ([], [])
            skipped0 = session.stats()["frames_skipped_by_taps"]
            for k in range(2 * segments):
                with_cb = k % 2 == 1
                if with_cb:
                    session.on_frame(slow, "output")
                n0, t0 = session.output.frames_received, time.perf_counter()
                await asyncio.sleep(seconds)
                n1, t1 = session.output.frames_received, time.perf_counter()
                if with_cb:
                    session.off_frame(slow)
                fps[k % 2].append((n1 - n0) / (t1 - t0))
            skipped = session.stats()["frames_skipped_by_taps"] - skipped0
        finally:
            session.disconnect()
    sa, sb = summary(fps[0]), summary(fps[1])
    ratio = sb["median"] / sa["median"] if sa["median"] else float("nan")
    report.row("live output fps, no callback", f"median {sa['median']:.2f}, min {sa['min']:.2f} ({segments} x {seconds:g} s)")
    report.row("live output fps, 200 ms callback", f"median {sb['median']:.2f}, min {sb['min']:.2f} "
               f"(callback ran {delivered}x, {skipped} frames skipped)")
    report.row("live fps with 200 ms callback / without", f"{ratio:.3f}", "equal (within 5%)", abs(ratio - 1) <= 0.05)


def main() -> int:
    def add(p: Any) -> None:
        p.add_argument("--frames", type=int, default=2000, help="timed frames per case (default 2000)")
        p.add_argument("--segments", type=int, default=8, help="live segments per case (default 8)")
        p.add_argument("--segment-seconds", type=float, default=1.0)

    args = bench_args(__doc__, add)
    report = Report("bench_taps", "tap overhead on the media loop at 1280x720, and live fps with a slow callback")
    media_loop_costs(report, args.frames)
    asyncio.run(live_fps(report, args.segments, args.segment_seconds))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
