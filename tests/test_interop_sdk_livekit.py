"""The local server against the official Python SDK ``decart==0.2.4`` (its
LiveKit generation), unmodified, both in-process (``LocalServer``) and as
``decart-widgets serve``. The SDK has the legacy SDK's import name, so it
lives in a venv of its own (``make`` builds ``.venv-sdk024``) and runs in a
subprocess (tests/_sdk024_peer.py) that reports what it did and saw."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from decart_widgets.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
SDK_PYTHON = ROOT / ".venv-sdk024" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "_sdk024_peer.py"

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

if not SDK_PYTHON.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{SDK_PYTHON} is missing: `make setup` builds the decart==0.2.4 venv")
    pytest.skip("decart==0.2.4 venv missing: run `make setup` (builds .venv-sdk024)", allow_module_level=True)


async def run_sdk(cfg: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(str(SDK_PYTHON), str(PEER), json.dumps(cfg),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"the SDK peer ran over {timeout} s; stderr:\n{err.decode()[-3000:]}") from None
    assert proc.returncode == 0, (f"the SDK peer failed ({proc.returncode}):\n{err.decode()[-3000:]}\n"
                                  f"stdout: {out.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server():
    async with LocalServer(model="passthrough", tick_interval=0.5) as srv:
        yield srv


def _client_events(server: LocalServer, session_id: str) -> list[dict[str, Any]]:
    return [e for e in server.events if e["session_id"] == session_id and e["source"] == "client"]


async def _closed(server: LocalServer, session_id: str) -> None:
    await server.wait_for_event(lambda e: e["session_id"] == session_id and e["type"] == "stream_closed")
    assert server.streams == [] and server.rooms == [] and server.peer_connections == []


async def test_prompt_session_with_every_operation(server):
    result = await run_sdk({"scenario": "session", "url": server.url, "initial": "prompt", "ops": True})
    # frames of the model's size, through the LiveKit room, for a few seconds
    assert result["model_size"] == [1280, 720] and result["sizes"] == [[1280, 720]]
    assert result["frames"] >= 10 and result["frames_after_ops"] >= 5
    assert result["moderation"] == "DecartSDKError: Prompt rejected by content moderation"
    assert result["ticks"] and result["ticks"] == sorted(result["ticks"])
    assert result["states"][-1] == "disconnected" and "generating" in result["states"]
    # view-only watching with the session's subscribe token (POST /watch-stream)
    assert result["subscriber"]["frames"] >= 5 and result["subscriber"]["sizes"] == [[1280, 720]]
    session_id = result["session_id"]
    await _closed(server, session_id)
    sent = [(e["type"], e.get("prompt"), e.get("has_image")) for e in _client_events(server, session_id)]
    assert sent[0] == ("livekit_join", None, None)
    assert sent[1:] == [("prompt", "anime style", None), ("prompt", "cyberpunk city", None),
                        ("set_image", "oil painting", True), ("prompt", "something nsfw please", None)]
    server_events = {e["type"] for e in server.events if e["session_id"] == session_id}
    assert {"generation", "room_created", "stream_live", "generation_started", "watch_token"} <= server_events


async def test_image_and_prompt_initial_state(server):
    result = await run_sdk({"scenario": "session", "url": server.url, "initial": "image", "seconds": 1.0})
    assert result["frames"] >= 5 and result["sizes"] == [[1280, 720]]
    session_id = result["session_id"]
    await _closed(server, session_id)
    sent = [(e["type"], e.get("prompt"), e.get("has_image")) for e in _client_events(server, session_id)]
    assert sent == [("livekit_join", None, None), ("set_image", "match this palette", True)]


async def test_no_initial_state_is_passthrough_and_a_queue_is_waited_out(server):
    server.faults.queue_positions, server.faults.queue_step_ms = 2, 100
    try:
        result = await run_sdk({"scenario": "session", "url": server.url, "initial": "none", "seconds": 1.0})
    finally:
        server.faults.reset()
    assert result["frames"] >= 5
    session_id = result["session_id"]
    await _closed(server, session_id)
    events = [e for e in server.events if e["session_id"] == session_id]
    assert any(e["type"] == "queued" for e in events)
    sent = [(e["type"], e.get("prompt"), e.get("has_image")) for e in events if e["source"] == "client"]
    # 0.2.4 sends the passthrough set_image after publishing
    assert sent == [("livekit_join", None, None), ("set_image", None, False)]


async def test_invalid_key_is_refused_without_retries():
    async with LocalServer(model="passthrough", valid_keys={"the-key"}) as keyed:
        result = await run_sdk({"scenario": "connect_error", "url": keyed.url, "api_key": "wrong"})
        assert "Invalid API key (401)" in result["error"]
        assert result["seconds"] < 5  # a permanent error: the SDK's 5 retries (1+2+4+8 s) not taken
        assert keyed.connections_total == 1


@pytest.mark.timeout(150)
async def test_against_decart_widgets_serve():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "decart_widgets.cli", "serve", "--port", "0", "--model", "passthrough",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(r"(ws://\S+?:\d+)", line)
        assert match, f"no URL in {line!r}"
        result = await run_sdk({"scenario": "session", "url": match.group(1), "initial": "prompt", "ops": True,
                                "seconds": 1.0})
        assert result["sizes"] == [[1280, 720]] and result["frames"] >= 5
        assert result["moderation"].endswith("Prompt rejected by content moderation")
        assert result["subscriber"]["frames"] >= 5
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, rest.decode()[-2000:]
