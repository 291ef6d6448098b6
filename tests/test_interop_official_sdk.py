"""The local server against the official Decart Python SDK, decart[realtime]==0.0.40
(its WebRTC generation: initial state before the offer, candidates inside the
offer, no trickle; see docs/protocol.md section 11)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _raw_client import PatternTrack, pattern_frames
from _server_helpers import center_diff, png_base64

from decart_widgets.common.stamp import read_stamp
from decart_widgets.server import LocalServer

decart = pytest.importorskip("decart")
from aiortc import MediaStreamTrack, RTCConfiguration  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from decart import DecartClient, models  # noqa: E402
from decart.realtime import webrtc_connection  # noqa: E402
from decart.realtime.client import RealtimeClient, SetInput  # noqa: E402
from decart.realtime.subscribe import SubscribeOptions  # noqa: E402
from decart.realtime.types import RealtimeConnectOptions  # noqa: E402
from decart.types import ModelState, Prompt  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _no_stun(monkeypatch):
    """The SDK hard-codes Google's STUN server; where its name resolves but UDP
    is blocked, aiortc waits 5 s in gathering per connect (docs/protocol.md 11).
    The protocol under test does not depend on it, so the tests drop it."""
    monkeypatch.setattr(webrtc_connection, "RTCConfiguration", lambda iceServers=None: RTCConfiguration(iceServers=[]))


class Frames:
    """Collects the frames of the SDK's remote track."""

    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self._cond = asyncio.Condition()

    def on_remote_stream(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            async with self._cond:
                self.frames.append(frame)
                del self.frames[:-3]
                self.count = getattr(self, "count", 0) + 1
                self._cond.notify_all()

    async def wait(self, count: int, timeout: float = 10.0) -> None:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: getattr(self, "count", 0) >= count), timeout)

    def stop(self) -> None:
        for t in self.tasks:
            t.cancel()


async def _connect(server: LocalServer, frames: Frames, *, api_key: str = "test",
                   initial_state: ModelState | None = None, width: int = 640, height: int = 480) -> RealtimeClient:
    return await RealtimeClient.connect(
        base_url=server.url,
        api_key=api_key,
        local_track=PatternTrack(width, height),
        options=RealtimeConnectOptions(model=models.realtime("lucy-2.1"), on_remote_stream=frames.on_remote_stream,
                                       initial_state=initial_state),
    )


class Recorder(list):
    """Values an SDK callback reports, with a wait for a condition on them."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, value: Any) -> None:
        self.append(value)
        self._changed.set()

    async def wait(self, predicate: Callable[[list[Any]], bool], timeout: float = 5.0) -> None:
        async def until() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"not reached within {timeout} s; recorded {list(self)!r}") from None


async def test_official_sdk_session_end_to_end():
    async with LocalServer(tick_interval=0.3) as server:
        frames = Frames()
        client = await _connect(server, frames, initial_state=ModelState(prompt=Prompt(text="anime style")))
        states, ticks = Recorder(), Recorder()
        client.on("connection_change", states)
        client.on("generation_tick", lambda msg: ticks(msg.seconds))
        try:
            assert client.is_connected()
            assert client.session_id == server.streams[0].session_id
            assert client.subscribe_token  # built from session_id, server_ip and an int server_port
            await frames.wait(10)
            await states.wait(lambda s: "generating" in s)
            await ticks.wait(lambda t: len(t) >= 2)
            assert ticks == sorted(ticks)

            received = frames.frames[-1].to_ndarray(format="rgb24")
            index = read_stamp(received)
            assert index is not None
            assert center_diff(received, pattern_frames(640, 480)[index % 8]) > 8  # styled, not the input

            await client.set_prompt("pencil sketch")
            assert server.streams[0].state.prompt == "pencil sketch"
            await client.set(SetInput(prompt="neon lights", image=png_base64()))
            state = server.streams[0].state
            assert state.prompt == "neon lights" and state.image is not None
            await client.set_image(base64.b64decode(png_base64(32, 32)))
            assert server.streams[0].state.image.shape == (32, 32, 3)
            with pytest.raises(Exception, match="moderation"):
                await client.set_prompt("nsfw things")
            assert server.streams[0].state.prompt == "neon lights"
        finally:
            await client.disconnect()
            frames.stop()
        await server.wait_for_event(lambda e: e["type"] == "stream_closed")
        assert server.peer_connections == [] and server.streams == []
        prompts = [e.get("prompt") for e in server.events if e["type"] in ("prompt", "set_image")]
        assert prompts[0] == "anime style"


async def test_official_sdk_without_initial_state_sends_passthrough_first():
    async with LocalServer(model="passthrough") as server:
        frames = Frames()
        client = await _connect(server, frames)
        try:
            await frames.wait(3)
            first = [e for e in server.events if e["source"] == "client"][0]
            assert first["type"] == "set_image" and first["prompt"] is None and first["has_image"] is False
            assert server.streams[0].state.is_passthrough
        finally:
            await client.disconnect()
            frames.stop()


async def test_official_sdk_initial_image_and_subscribe():
    async with LocalServer() as server:
        frames, viewer_frames = Frames(), Frames()
        client = await _connect(server, frames, initial_state=ModelState(
            prompt=Prompt(text="watercolor"), image=png_base64()))
        try:
            state = server.streams[0].state
            assert state.image is not None and state.prompt == "watercolor"
            viewer = await RealtimeClient.subscribe(
                base_url=server.url, api_key="test",
                options=SubscribeOptions(token=client.subscribe_token, on_remote_stream=viewer_frames.on_remote_stream))
            try:
                await viewer_frames.wait(5)
                before = frames.count
                await frames.wait(before + 5)  # the main client still gets its own frames
                assert server.streams[0].subscribers == 1
            finally:
                await viewer.disconnect()
                viewer_frames.stop()
        finally:
            await client.disconnect()
            frames.stop()


async def test_official_sdk_reconnects_after_a_dropped_stream():
    """The SDK reconnects to a new stream after a drop. Two SDK 0.0.40 oddities
    show here: the reconnect sends a passthrough instead of the last prompt, and
    its local track was stopped by aiortc when the old sender ended (aiortc
    stops a sender's track on exit), so no frames go up on the new connection."""
    async with LocalServer(model="passthrough") as server:
        frames = Frames()
        client = await _connect(server, frames, initial_state=ModelState(prompt=Prompt(text="anime")))
        states = Recorder()
        client.on("connection_change", states)
        try:
            await frames.wait(3)
            first = server.streams[0].session_id
            mark = server.mark_events()
            assert server.drop_streams() == 1
            live = await server.wait_for_event(
                lambda e: e["type"] == "stream_live" and e["session_id"] != first, timeout=15, since=mark)
            await states.wait(lambda s: "reconnecting" in s and s[-1] in ("connected", "generating"), 15)
            restored = [e for e in server.events if e["session_id"] == live["session_id"] and e["source"] == "client"]
            assert restored[0]["type"] == "set_image" and restored[0]["prompt"] is None  # passthrough, not "anime"
            assert client.session_id == live["session_id"]
        finally:
            await client.disconnect()
            frames.stop()


async def test_official_sdk_invalid_key_is_permanent():
    async with LocalServer(model="passthrough", valid_keys={"right"}) as server:
        started = time.monotonic()
        with pytest.raises(Exception, match="(?i)invalid api key"):
            await _connect(server, Frames(), api_key="wrong")
        assert time.monotonic() - started < 3  # not retried with backoff
        assert server.connections_total == 1


async def test_official_sdk_client_token():
    async with LocalServer(model="passthrough", valid_keys={"perm-key"}) as server:
        async with DecartClient(api_key="perm-key", base_url=server.http_url) as sdk:
            token = await sdk.tokens.create(expires_in=60, allowed_models=["lucy-2.1"])
        assert token.api_key.startswith("ek_") and token.permissions == {"models": ["lucy-2.1"]}
        frames = Frames()
        client = await _connect(server, frames, api_key=token.api_key)
        try:
            await frames.wait(3)
        finally:
            await client.disconnect()
            frames.stop()
        async with DecartClient(api_key="not-a-key", base_url=server.http_url) as bad:
            with pytest.raises(decart.TokenCreateError, match="401"):
                await bad.tokens.create()


def test_frames_array_type():
    # the helper's comparison must be able to fail: a styled frame is far from its input
    frame = pattern_frames(64, 48)[0]
    assert center_diff(frame, frame) == 0
    assert center_diff(frame, 255 - frame) > 30
    assert isinstance(frame, np.ndarray)
