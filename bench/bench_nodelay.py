"""Small-message round trips through Jupyter server's kernel websocket, with
and without the TCP_NODELAY extension decart-widgets installs
(decart_widgets._jupyter_nodelay), side by side in one run.

Starts JupyterLab twice (DECART_WIDGETS_NODELAY=0, then 1; twice each,
alternating), opens a kernel's websocket from Python and times
``kernel_info_request`` → reply and ``execute_request("pass")`` → idle: the
size of messages the comm transport's acks and widget state changes are.

    .venv/bin/python bench/bench_nodelay.py [--n 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from _jupyter import JupyterLab  # noqa: E402


def _msg(kind: str, content: dict) -> dict:
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": kind, "username": "bench", "session": "bench",
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": [],
    }


async def round_trips(base: str, n: int) -> dict[str, list[float]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/kernels", json={"name": "python3"}) as r:
            kernel = (await r.json())["id"]
        try:
            async with http.ws_connect(f"{base.replace('http', 'ws')}/api/kernels/{kernel}/channels") as ws:
                out: dict[str, list[float]] = {"kernel_info": [], "execute": []}

                async def call(kind: str, content: dict, done) -> float:
                    msg = _msg(kind, content)
                    t0 = time.perf_counter()
                    await ws.send_str(json.dumps(msg))
                    while True:
                        reply = json.loads((await ws.receive(timeout=30)).data)
                        if reply.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"] and done(reply):
                            return (time.perf_counter() - t0) * 1000

                is_reply = lambda m: m["msg_type"] == "kernel_info_reply"  # noqa: E731
                is_idle = lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"  # noqa: E731
                for _ in range(10):  # warm-up (kernel start-up)
                    await call("kernel_info_request", {}, is_reply)
                for _ in range(n):
                    out["kernel_info"].append(await call("kernel_info_request", {}, is_reply))
                    out["execute"].append(await call("execute_request", {"code": "pass", "silent": False, "store_history": False,
                                                                         "user_expressions": {}, "allow_stdin": False}, is_idle))
                return out
        finally:
            async with http.delete(f"{base}/api/kernels/{kernel}"):
                pass


def run(nodelay: bool, n: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        lab = JupyterLab(Path(tmp) / "root", env={"DECART_WIDGETS_NODELAY": "1" if nodelay else "0"})
        lab.start()
        try:
            return asyncio.run(round_trips(lab.base, n))
        finally:
            lab.close()


def main(n: int) -> None:
    print(f"bench_nodelay: kernel websocket small-message round trips; cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    results = {False: {"kernel_info": [], "execute": []}, True: {"kernel_info": [], "execute": []}}
    for _ in range(2):
        for nodelay in (False, True):
            for k, v in run(nodelay, n).items():
                results[nodelay][k] += v
    for kind in ("kernel_info", "execute"):
        a, b = np.array(results[False][kind]), np.array(results[True][kind])
        print(f"  {kind:11s} default : median {np.median(a):5.1f} ms  p95 {np.percentile(a, 95):5.1f} ms (n={len(a)})")
        print(f"  {kind:11s} nodelay : median {np.median(b):5.1f} ms  p95 {np.percentile(b, 95):5.1f} ms  "
              f"ratio {np.median(b) / np.median(a):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    main(parser.parse_args().n)
