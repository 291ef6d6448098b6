"""The local server's frame path, event log and lifecycle, driven by a raw WebSocket + aiortc client."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from _raw_client import RawClient, pattern_frames
from _server_helpers import (
    center_diff,
    png_base64,
    port_is_open,
    server_threads,
    settle_tasks,
    streaming_client,
    strip_of,
)
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from decart_widgets import protocol
from decart_widgets.common.stamp import read_stamp, stamp
from decart_widgets.server import Faults, LocalServer, ModelState
from decart_widgets.server._tracks import FrameProcessor, OutputTrack

pytestmark = pytest.mark.timeout(40)


# -- the frame path ---------------------------------------------------------------------


async def test_custom_model_is_used_with_the_state():
    seen: list[ModelState] = []

    def invert(frame: np.ndarray, state: ModelState) -> np.ndarray:
        seen.append(state)
        return 255 - frame

    async with LocalServer(model=invert) as server:
        async with await streaming_client(server.url, prompt="make it negative", width=640, height=480,
                                          frames=5) as client:
            received = client.last_rgb()
            index = read_stamp(received)
            assert index is not None  # the stamp strip was restored from the input
            expected = 255 - pattern_frames(640, 480)[index % 8]
            assert center_diff(received, expected) < 12
            assert center_diff(received, 255 - expected) > 60
    assert seen and seen[-1].prompt == "make it negative"
    assert seen[-1].session_id and seen[-1].version == 1


async def test_stamp_survives_a_style_effect():
    async with LocalServer() as server:  # the default effects model
        async with await streaming_client(server.url, prompt="anime style", width=640, height=480,
                                          frames=10) as client:
            received = client.last_rgb()
            index = read_stamp(received)
            assert index is not None
            source = stamp(pattern_frames(640, 480)[index % 8], index)
            assert center_diff(received, source) > 8, "the style did not change the picture"
            # the strip is the input's (up to coding noise), not the style's
            assert np.abs(strip_of(received).astype(int) - strip_of(source).astype(int)).mean() < 12


async def test_passthrough_returns_the_input(local_server):
    async with await streaming_client(local_server.url, width=640, height=480, frames=5) as client:
        received = client.last_rgb()
        index = read_stamp(received)
        assert index is not None
        assert center_diff(received, pattern_frames(640, 480)[index % 8]) < 8


async def test_latest_frame_wins_with_a_slow_model():
    def slow(frame: np.ndarray, state: ModelState) -> np.ndarray:
        time.sleep(0.12)
        return frame

    async with LocalServer(model=slow) as server:
        async with await streaming_client(server.url, frames=4) as client:
            await client.wait_frames(8, 10)
            info = server.streams[0]
            assert info.frames_dropped > 0
            assert info.frames_out >= 8
            # never queued: at most one frame waits while the model runs
            assert info.frames_in - info.frames_out - info.frames_dropped <= 2


async def test_model_exceptions_pass_frames_through_and_log_once(caplog):
    def broken(frame: np.ndarray, state: ModelState) -> np.ndarray:
        raise RuntimeError("model exploded")

    async with LocalServer(model=broken) as server:
        async with await streaming_client(server.url, frames=10) as client:
            assert client.frames >= 10
            assert server.streams[0].model_errors >= 10
    failures = [r for r in caplog.records if r.exc_info and "model exploded" in str(r.exc_info[1])]
    assert len(failures) == 1


async def test_bad_model_output_is_an_error_not_a_crash():
    async with LocalServer(model=lambda frame, state: "nope") as server:
        async with await streaming_client(server.url, frames=5):
            assert server.streams[0].model_errors >= 5


async def test_model_may_change_the_frame_size():
    def half(frame: np.ndarray, state: ModelState) -> np.ndarray:
        return np.ascontiguousarray(frame[::2, ::2])

    async with LocalServer(model=half) as server:
        async with await streaming_client(server.url, width=320, height=240) as client:
            assert (client.last_frame.width, client.last_frame.height) == (160, 120)


class _ListTrack(MediaStreamTrack):
    """Hands out the given frames quickly, then ends."""

    kind = "video"

    def __init__(self, frames: list[VideoFrame]) -> None:
        super().__init__()
        self._frames = list(frames)
        self.exhausted = asyncio.Event()

    async def recv(self) -> VideoFrame:
        await asyncio.sleep(0.02)  # a real track waits for its next frame
        if not self._frames:
            self.exhausted.set()
            raise MediaStreamError
        return self._frames.pop(0)


class _RecordingOutput(OutputTrack):
    def __init__(self) -> None:
        super().__init__(on_frame_sent=lambda: None)
        self.frames: list[VideoFrame] = []
        self.changed = asyncio.Event()

    def put(self, frame: VideoFrame) -> None:
        self.frames.append(frame)
        self.changed.set()


async def test_frame_processor_latest_frame_wins_and_keeps_timing_and_stamp():
    gate = threading.Event()
    seen: list[int | None] = []

    def model(frame: np.ndarray, state: ModelState) -> np.ndarray:
        seen.append(read_stamp(frame))
        gate.wait(5)
        return 255 - frame

    inputs = []
    for i, rgb in enumerate(pattern_frames(640, 480, 5)):
        frame = VideoFrame.from_ndarray(stamp(rgb, i), format="rgb24")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        inputs.append(frame)
    output = _RecordingOutput()
    processor = FrameProcessor(model, ModelState, output, thread_name="decart-server-model-unit")
    track = _ListTrack(inputs)
    try:
        processor.set_input(track)
        await asyncio.wait_for(track.exhausted.wait(), 5)  # every frame arrived while the model was busy
        gate.set()
        while len(output.frames) < 2:
            output.changed.clear()
            await asyncio.wait_for(output.changed.wait(), 5)
    finally:
        gate.set()
        await processor.close()
    assert not any(n.startswith("decart-server-model-unit") for n in server_threads())
    assert seen == [0, 4]  # frames 1-3 were replaced by newer ones, never queued
    assert (processor.frames_in, processor.frames_out, processor.frames_dropped) == (5, 2, 3)
    assert [f.pts for f in output.frames] == [0, 12000]
    assert all(f.time_base == Fraction(1, 90000) for f in output.frames)
    last = output.frames[-1].to_ndarray(format="rgb24")
    assert read_stamp(last) == 4  # the strip came back from the input, the rest is inverted
    assert center_diff(last, 255 - pattern_frames(640, 480, 5)[4]) < 4


async def test_ticks_about_once_per_interval():
    async with LocalServer(model="passthrough", tick_interval=1.0) as server:
        async with await streaming_client(server.url) as client:
            started = time.monotonic()
            await client.wait_for("generation_started")
            first = await client.wait_for("generation_tick", 3)
            t1 = time.monotonic()
            second = await client.wait_for("generation_tick", 3, where=lambda m: m["seconds"] == 2)
            t2 = time.monotonic()
            assert first["seconds"] == 1
            assert second["seconds"] == 2
            assert 0.7 < t2 - t1 < 1.3
            assert t1 - started < 1.5
            assert "generation_ended" not in client.types()


# -- observability -------------------------------------------------------------------------


async def test_events_record_messages_without_secrets(local_server):
    async with await RawClient.open(local_server.url, api_key="sk-hidden") as client:
        await client.send(protocol.SetImage(png_base64(), prompt="neon"))
        await client.wait_for("set_image_ack")
    event = await local_server.wait_for_event(lambda e: e["type"] == "set_image")
    assert event["prompt"] == "neon" and event["has_image"] is True and event["source"] == "client"
    assert "sk-hidden" not in repr(local_server.events)
    assert png_base64() not in repr(local_server.events)
    await local_server.wait_for_event(lambda e: e["type"] == "stream_closed")
    assert local_server.connections_total == 1


async def test_wait_for_event_since_only_sees_new_events(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("again"))
        await client.wait_for("prompt_ack")
        mark = local_server.mark_events()
        waiter = asyncio.ensure_future(local_server.wait_for_event(
            lambda e: e.get("prompt") == "again", timeout=5, since=mark))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await client.send(protocol.Prompt("again"))
        event = await waiter
        assert event["seq"] > mark
    with pytest.raises(TimeoutError, match="no matching server event"):
        await local_server.wait_for_event(lambda e: e["type"] == "never", timeout=0.1)


async def test_a_predicate_that_raises_fails_the_wait_at_once(local_server):
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("boom"))
        await client.wait_for("prompt_ack")
    started = asyncio.get_running_loop().time()
    with pytest.raises(KeyError, match="no_such_field"):
        await local_server.wait_for_event(lambda e: e["no_such_field"], timeout=5)
    assert asyncio.get_running_loop().time() - started < 1, "a broken predicate waited for its timeout"


def test_background_server_events_from_another_loop(background_server):
    async def scenario() -> None:
        async with await streaming_client(background_server.url, prompt="sketch") as client:
            await background_server.wait_for_event(lambda e: e.get("prompt") == "sketch", timeout=5)
            assert background_server.streams[0].generating or await client.wait_for("generation_started")
        await background_server.wait_for_event(lambda e: e["type"] == "stream_closed", timeout=5)

    asyncio.run(scenario())
    assert background_server.wait_for_event_sync(lambda e: e["type"] == "stream_opened", 1)["source"] == "server"


# -- lifecycle and cleanup ---------------------------------------------------------------------


async def test_cleanup_after_stop_on_the_callers_loop():
    server = LocalServer(model="passthrough")
    await server.start()
    await server.start()  # idempotent
    port = server.port
    main = await streaming_client(server.url)
    session = await main.wait_for("session_id")
    viewer = await RawClient.open(server.url, path=f"/subscribe/{session['session_id']}", model=None)
    await viewer.start_media(None)
    await viewer.wait_frames(2)
    pcs = server.peer_connections
    assert len(pcs) == 2 and any(n.startswith("decart-server-model-") for n in server_threads())

    await server.stop()  # with both clients still connected
    await server.stop()  # idempotent
    assert main.of_type("generation_ended")[0]["reason"] == "server_shutdown"
    assert server.peer_connections == [] and all(pc.connectionState == "closed" for pc in pcs)
    assert server.streams == []
    assert server_threads() == []
    assert not port_is_open(port)
    await main.wait_closed()
    await viewer.wait_closed()
    await main.close()
    await viewer.close()
    assert await settle_tasks() == []


async def test_cleanup_after_close_in_background_mode():
    server = LocalServer(model="passthrough").start_background()
    assert server.start_background() is server  # idempotent
    port = server.port
    assert "decart-local-server" in server_threads()
    client = await streaming_client(server.url, prompt="anime")
    pcs = server.peer_connections
    assert len(pcs) == 1
    await asyncio.to_thread(server.close)  # the client's loop keeps running meanwhile
    server.close()  # idempotent
    assert server_threads() == []
    assert not port_is_open(port)
    assert server.peer_connections == [] and pcs[0].connectionState == "closed"
    await client.wait_closed()
    await client.close()
    assert await settle_tasks() == []


def test_sync_context_manager_and_restart():
    with LocalServer(model="passthrough").start_background() as server:
        assert port_is_open(server.port)
        port = server.port
    assert not port_is_open(port) and server_threads() == []
    with server:  # a stopped server can run again
        assert port_is_open(server.port)
    assert server_threads() == []


async def test_async_stop_of_a_background_server():
    server = LocalServer(model="passthrough").start_background()
    await server.stop()
    assert server_threads() == [] and not server.running


async def test_faults_object_can_be_replaced(local_server):
    local_server.faults = Faults(moderation_words=("banana",))
    async with await RawClient.open(local_server.url) as client:
        await client.send(protocol.Prompt("a banana"))
        assert (await client.wait_for("prompt_ack"))["success"] is False
    with pytest.raises(TypeError):
        local_server.faults = {"ack_delay": 1}  # type: ignore[assignment]


@pytest.mark.slow
async def test_720p_through_the_default_effects_at_about_30_fps():
    async with LocalServer() as server:
        async with await streaming_client(server.url, prompt="anime style", width=1280, height=720,
                                          frames=1) as client:
            await asyncio.sleep(1.0)  # let aiortc's bitrate ramp settle
            n0, t0 = client.frames, time.monotonic()
            await asyncio.sleep(3.0)
            fps = (client.frames - n0) / (time.monotonic() - t0)
            info = server.streams[0]
            print(f"\n720p through EffectsModel('anime style'): {fps:.1f} fps received "
                  f"(server in={info.frames_in} out={info.frames_out} dropped={info.frames_dropped})")
            assert (client.last_frame.width, client.last_frame.height) == (1280, 720)
            load = os.getloadavg()[0]
            if fps < 20 and load > 1.5 * (os.cpu_count() or 1):
                pytest.skip(f"machine overloaded (load average {load:.1f}): measured {fps:.1f} fps")
            assert fps >= 20
