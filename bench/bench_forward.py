"""One relay hop A -> B -> C at 1280x720 VP8 30 fps, in one process, four ways:

- ``direct``: no B at all, A -> C (what connecting the browser straight to an
  in-process model server would leave of the hop: the floor);
- ``forward``: B forwards the encoded frames with the building blocks
  (``EncodedTap`` -> ``ForwardTrack``);
- ``switching``: B forwards through an ``EncodedFeed`` and a ``SwitchingTrack``,
  as the session and the widget's views do (ready to switch to encoding);
- ``transcode``: B decodes and re-encodes (``MediaRelay``: what the kernel
  did for every widget frame before).

A's encode and C's decode are the same in all, so the differences in process
CPU are B's work. Rounds alternate the modes so machine noise hits all;
latency is C's receive time minus A's send time of the same stamped frame.

    .venv/bin/python bench/bench_forward.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np
from _common import load_line, machine_line, proc_cpu_seconds, summary
from aiortc.contrib.media import MediaRelay

from decart_widgets.common.bitrate import DEFAULT_UPSTREAM_BITRATE, vp8_bitrate
from decart_widgets.common.rtc import loopback_ice, new_peer_connection
from decart_widgets.common.stamp import read_stamp
from decart_widgets.media.convert import luma_view
from decart_widgets.media.encoded import EncodedTap, ForwardTrack, relay_keyframe_requests
from decart_widgets.media.forwarding import EncodedFeed, SwitchingTrack
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump

MODES = ("direct", "forward", "switching", "transcode")
NAMES = {"direct": "A -> C, no B            ", "forward": "B forwards (ForwardTrack)",
         "switching": "B forwards (switching)  ", "transcode": "B decodes + re-encodes  "}


async def _link(sender_pc, receiver_pc) -> None:
    with loopback_ice(), vp8_bitrate(DEFAULT_UPSTREAM_BITRATE):
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)


async def _never() -> None:
    await asyncio.Event().wait()


async def _b_hop(mode: str, b_in, b_out, a) -> None:
    """Wire B: A's track in on ``b_in``, out on ``b_out``."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future = loop.create_future()
    taps: list[EncodedTap] = []

    @b_in.on("track")
    def on_track(track):
        if mode != "transcode":
            receiver = next(t.receiver for t in b_in.getTransceivers() if t.receiver.track is track)
            tap = EncodedTap(receiver)
            tap.decode = False
            taps.append(tap)
        got.set_result(track)

    await _link(a, b_in)
    b_track = await asyncio.wait_for(got, 10)
    if mode == "transcode":
        b_out.addTrack(MediaRelay().subscribe(b_track, buffered=False))
    elif mode == "forward":
        tap = taps[0]
        fwd = ForwardTrack("video/VP8", on_need_keyframe=tap.request_keyframe)
        tap.add_consumer(fwd.push)
        relay_keyframe_requests(b_out.addTrack(fwd), tap.request_keyframe)
    else:
        feed = EncodedFeed()
        feed.attach(taps[0])
        track = SwitchingTrack(_never)  # frames never needed here
        sender = b_out.addTrack(track)
        track.bind(next(t for t in b_out.getTransceivers() if t.sender is sender))
        track.set_feed(feed)


async def one_round(mode: str, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    pump = FramePump(TestPatternSource(), 1280, 720, 30)
    a, b_in, b_out, c = (new_peer_connection() for _ in range(4))
    a.addTrack(pump.track())
    if mode == "direct":
        last_hop_sender = a
    else:
        await _b_hop(mode, b_in, b_out, a)
        last_hop_sender = b_out
    got_c: asyncio.Future = loop.create_future()
    c.on("track", lambda t: got_c.done() or got_c.set_result(t))
    await _link(last_hop_sender, c)
    c_track = await asyncio.wait_for(got_c, 10)
    latencies: list[float] = []
    frames = 0
    warm_until = time.perf_counter() + 1.5
    while time.perf_counter() < warm_until:
        await asyncio.wait_for(c_track.recv(), 5)
    cpu0, t0 = proc_cpu_seconds(os.getpid()), time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            frame = await asyncio.wait_for(c_track.recv(), 5)
            now = time.perf_counter()
            frames += 1
            counter = read_stamp(luma_view(frame))
            sent = pump.sent_time(counter) if counter is not None else None
            if sent is not None:
                latencies.append((now - sent) * 1000)
    finally:
        elapsed = time.perf_counter() - t0
        cpu = proc_cpu_seconds(os.getpid()) - cpu0
        pump.stop()
        for pc in (a, b_in, b_out, c):
            await pc.close()
    return {"fps": frames / elapsed, "cpu_pct": 100 * cpu / elapsed,
            "latency_median": float(np.median(latencies)) if latencies else float("nan"),
            "latency_p95": float(np.percentile(latencies, 95)) if latencies else float("nan")}


async def main(rounds: int, seconds: float) -> None:
    print("bench_forward: A -> B -> C, 1280x720 VP8 @30 fps: no B, B forwards, B transcodes")
    print(machine_line())
    print(load_line("start"))
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for i in range(rounds):
        order = MODES if i % 2 == 0 else MODES[::-1]
        for mode in order:
            results[mode].append(await one_round(mode, seconds))
    for mode in MODES:
        rs = results[mode]
        cpu = summary([r["cpu_pct"] for r in rs])
        print(f"  {NAMES[mode]}: fps {np.median([r['fps'] for r in rs]):5.1f}  process CPU {cpu['median']:5.1f}% "
              f"of a core (rounds {', '.join(format(r['cpu_pct'], '.0f') for r in rs)})  "
              f"A->C latency median {np.median([r['latency_median'] for r in rs]):5.1f} ms "
              f"p95 {np.median([r['latency_p95'] for r in rs]):5.1f} ms")
    med = {m: float(np.median([r["cpu_pct"] for r in results[m]])) for m in MODES}
    lat = {m: float(np.median([r["latency_median"] for r in results[m]])) for m in MODES}
    print(f"  forward / transcode CPU ratio: {med['switching'] / med['transcode']:.2f} "
          f"(B's decode + encode: {med['transcode'] - med['switching']:.1f}% of a core)")
    print(f"  what B's forwarding hop costs over no hop: {med['switching'] - med['direct']:.1f}% of a core, "
          f"{lat['switching'] - lat['direct']:.1f} ms (building blocks alone: {med['forward'] - med['direct']:.1f}%, "
          f"{lat['forward'] - lat['direct']:.1f} ms)")
    print(load_line("end"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds))
