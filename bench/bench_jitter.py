"""One aiortc hop on loopback, 1280x720 VP8 at 30 fps: latency with aiortc's
jitter buffer as shipped vs released on the RTP marker bit (decart_widgets.common.jitter).

Both run in this process, alternating A/B rounds so machine noise hits both.
Latency = receive time - send time of the same counter-stamped frame.

    .venv/bin/python bench/bench_jitter.py [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np

from decart_widgets.common import jitter as _jitter
from decart_widgets.common.rtc import loopback_ice, new_peer_connection
from decart_widgets.media.convert import frame_stamp
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump


async def one_round(seconds: float) -> list[float]:
    pump = FramePump(TestPatternSource(), 1280, 720, 30)
    a, b = new_peer_connection(), new_peer_connection()
    latencies: list[float] = []
    got_track: asyncio.Future = asyncio.get_running_loop().create_future()
    b.on("track", lambda t: got_track.done() or got_track.set_result(t))
    a.addTrack(pump.track())
    with loopback_ice():
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
    track = await asyncio.wait_for(got_track, 10)
    end = time.perf_counter() + seconds
    warm = time.perf_counter() + 1.0
    try:
        while time.perf_counter() < end:
            frame = await asyncio.wait_for(track.recv(), 5)
            now = time.perf_counter()
            counter = frame_stamp(frame)
            sent = pump.sent_time(counter) if counter is not None else None
            if sent is not None and now > warm:
                latencies.append((now - sent) * 1000)
    finally:
        pump.stop()
        await a.close()
        await b.close()
    return latencies


def summary(values: list[float]) -> str:
    arr = np.array(values)
    return f"median {np.median(arr):6.1f} ms  p95 {np.percentile(arr, 95):6.1f} ms  (n={len(arr)})"


async def main(rounds: int, seconds: float) -> None:
    print(f"bench_jitter: one loopback hop, 1280x720 VP8 @30 fps; cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for enabled in (False, True):
            _jitter.ENABLED = enabled
            results[enabled] += await one_round(seconds)
    _jitter.ENABLED = True
    base, ours = np.median(results[False]), np.median(results[True])
    print(f"  aiortc jitter buffer   : {summary(results[False])}")
    print(f"  released on marker bit : {summary(results[True])}")
    print(f"  ratio (ours / aiortc)  : {ours / base:.2f}  saved {base - ours:.1f} ms per hop (median)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds))
