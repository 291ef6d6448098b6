"""One relay hop A -> B -> C at 1280x720 VP8 30 fps, in one process: B
decodes and re-encodes (what the kernel did for every widget frame) vs B
forwards the encoded frames (decart_widgets.common.encoded).

A's encode and C's decode are the same in both, so the difference in process
CPU is B's decode + encode. Rounds alternate A/B so machine noise hits both;
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
from decart_widgets.common.encoded import EncodedTap, ForwardTrack, relay_keyframe_requests
from decart_widgets.common.rtc import loopback_ice, new_peer_connection
from decart_widgets.common.stamp import read_stamp
from decart_widgets.media.convert import luma_view
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump


async def _link(sender_pc, receiver_pc) -> None:
    with loopback_ice(), vp8_bitrate(DEFAULT_UPSTREAM_BITRATE):
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)


async def one_round(forward: bool, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    pump = FramePump(TestPatternSource(), 1280, 720, 30)
    a, b_in, b_out, c = (new_peer_connection() for _ in range(4))
    relay = MediaRelay()
    a.addTrack(pump.track())
    got: asyncio.Future = loop.create_future()
    tap_box: list[EncodedTap] = []

    @b_in.on("track")
    def on_track(track):
        if forward:
            receiver = next(t.receiver for t in b_in.getTransceivers() if t.receiver.track is track)
            tap = EncodedTap(receiver)
            tap.decode = False
            tap_box.append(tap)
        got.set_result(track)

    await _link(a, b_in)
    b_track = await asyncio.wait_for(got, 10)
    if forward:
        tap = tap_box[0]
        fwd = ForwardTrack("video/VP8", on_need_keyframe=tap.request_keyframe)
        tap.add_consumer(fwd.push)
        relay_keyframe_requests(b_out.addTrack(fwd), tap.request_keyframe)
    else:
        b_out.addTrack(relay.subscribe(b_track, buffered=False))
    got_c: asyncio.Future = loop.create_future()
    c.on("track", lambda t: got_c.done() or got_c.set_result(t))
    await _link(b_out, c)
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
    print("bench_forward: A -> B -> C, 1280x720 VP8 @30 fps, B transcodes vs forwards")
    print(machine_line())
    print(load_line("start"))
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for forward in (False, True):
            results[forward].append(await one_round(forward, seconds))
    for forward, name in ((False, "B decodes + re-encodes"), (True, "B forwards encoded  ")):
        rs = results[forward]
        cpu = summary([r["cpu_pct"] for r in rs])
        print(f"  {name}: fps {np.median([r['fps'] for r in rs]):5.1f}  process CPU {cpu['median']:5.1f}% "
              f"of a core (rounds {', '.join(format(r['cpu_pct'], '.0f') for r in rs)})  "
              f"A->C latency median {np.median([r['latency_median'] for r in rs]):5.1f} ms "
              f"p95 {np.median([r['latency_p95'] for r in rs]):5.1f} ms")
    t, f = (np.median([r["cpu_pct"] for r in results[k]]) for k in (False, True))
    print(f"  forward / transcode CPU ratio: {f / t:.2f} (B's decode + encode: {t - f:.1f}% of a core)")
    print(load_line("end"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds))
