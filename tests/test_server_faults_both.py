"""Fault injection behaves the same in both protocol generations: the legacy
offer/answer (an aiortc client of our own) and the LiveKit room (the real
``livekit`` rtc client). One stream logic, two media transports."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio

# the rtc client has wheels for Linux x86_64/aarch64 (glibc 2.28+) and macOS arm64 only
pytest.importorskip("livekit.rtc", reason="the livekit rtc client is not available on this platform")

from _livekit_peer import LiveKitPeer  # noqa: E402
from _raw_client import PatternTrack, RawClient  # noqa: E402
from livekit import rtc  # noqa: E402

from decart_widgets import protocol  # noqa: E402
from decart_widgets.server import Faults, LocalServer  # noqa: E402

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]
GENERATIONS = ["webrtc", "livekit"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared():
    async with LocalServer(model="passthrough", tick_interval=0.25) as srv:
        yield srv


@pytest_asyncio.fixture(loop_scope="module")
async def server(shared):
    """The shared server with no faults; every test leaves nothing behind."""
    shared.faults.reset()
    yield shared
    shared.faults.reset()
    for stream in shared.streams:
        await shared.wait_for_event(lambda e, s=stream.session_id: e["session_id"] == s and e["type"] == "stream_closed")
    assert shared.streams == [] and shared.rooms == [] and shared.peer_connections == []


class Session:
    """A client session of either generation: ``control`` is its Decart socket."""

    def __init__(self, generation: str, control: RawClient, peer: LiveKitPeer | None = None) -> None:
        self.generation = generation
        self.control = control
        self.peer = peer

    @classmethod
    async def start(cls, server: LocalServer, generation: str, *, media: bool = True) -> Session:
        if generation == "livekit":
            peer = await LiveKitPeer.join(server.url)
            session = cls(generation, peer.control, peer)
            if media:
                await peer.connect()
                await peer.publish(320, 240)
            return session
        control = await RawClient.open(server.url)
        if media:
            await control.start_media(PatternTrack(320, 240))
        return cls(generation, control)

    @property
    def frames(self) -> int:
        return self.peer.frames if self.peer is not None else self.control.frames

    async def wait_frames(self, count: int, timeout: float = 15.0) -> None:
        if self.peer is not None:
            await self.peer.wait_frames(count, timeout)
        else:
            await self.control.wait_frames(count, timeout)

    async def close(self) -> None:
        if self.peer is not None:
            await self.peer.close()
        else:
            await self.control.close()


async def _ended(server: LocalServer, session: Session) -> None:
    stream_id = server.streams[0].session_id if server.streams else None
    await session.close()
    if stream_id is not None:
        await server.wait_for_event(lambda e: e["session_id"] == stream_id and e["type"] == "stream_closed")


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_queue_positions_count_down_before_the_media_answer(server, generation):
    server.faults.queue_positions, server.faults.queue_step_ms = 3, 80
    started = time.monotonic()
    session = await Session.start(server, generation, media=False)
    try:
        control = session.control
        if generation == "webrtc":
            await control.send(protocol.Prompt("while queued"))
            await control.start_media(PatternTrack(160, 120))
            media_reply = "answer"
        else:
            media_reply = "livekit_room_info"  # LiveKitPeer.join waited for it
        assert time.monotonic() - started >= 3 * 0.08
        queue = control.of_type("queue_position")
        assert [(m["position"], m["queue_size"]) for m in queue] == [(3, 3), (2, 3), (1, 3)]
        types = control.types()
        assert types.index(media_reply) > max(i for i, t in enumerate(types) if t == "queue_position")
        if generation == "webrtc":
            assert types.index("prompt_ack") < types.index("answer")  # acks do not wait for the queue
    finally:
        await _ended(server, session)


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_freeze_output_keeps_the_socket_and_ticks(server, generation):
    session = await Session.start(server, generation)
    try:
        await session.wait_frames(3)
        server.faults.freeze_output_after_seconds = 0.1  # set live: fires at once, the stream is older
        await server.wait_for_event(lambda e: e.get("fault") == "freeze_output_after_seconds", timeout=10)
        await asyncio.sleep(0.3)  # frames already in flight still arrive
        frozen_at = session.frames
        for _ in range(3):  # ticks go on (0.25 s apart): at 30 fps ~20 frames would have come meanwhile
            await session.control.wait_for("generation_tick", 5, since=session.control.mark())
        assert session.frames <= frozen_at + 1
        assert not session.control.closed.is_set() and server.streams[0].frames_in > frozen_at
    finally:
        await _ended(server, session)


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_block_media_never_connects_but_keeps_the_control_socket(server, generation):
    server.faults.block_media = True
    session = await Session.start(server, generation, media=False)
    connecting: asyncio.Future[None] | None = None
    try:
        if generation == "webrtc":
            await session.control.start_media(PatternTrack(160, 120))
        else:
            # the real client tries 15 s per attempt, 4 attempts, before it gives up
            connecting = asyncio.ensure_future(session.peer.connect())
            await server.wait_for_event(lambda e: e["type"] == "publisher_answered")
        await asyncio.sleep(2.5)  # far longer than a connect on this machine (~0.1-0.4 s)
        assert server.peer_connections and all(pc.connectionState in ("new", "connecting")
                                               for pc in server.peer_connections)
        if generation == "webrtc":
            assert session.control.pc.connectionState in ("new", "connecting")
        assert server.streams[0].frames_in == 0 and session.frames == 0
        await session.control.send(protocol.Prompt("still here"))
        assert (await session.control.wait_for("prompt_ack"))["success"] is True
    finally:
        await _ended(server, session)
        if connecting is not None:  # its room is gone: the next attempt fails on that
            await asyncio.wait_for(asyncio.gather(connecting, return_exceptions=True), 40)
    server.faults.block_media = False
    session = await Session.start(server, generation)  # the fault cleared: media flows again
    try:
        await session.wait_frames(3)
    finally:
        await _ended(server, session)


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_drop_socket_after_seconds_drops_everything(server, generation):
    server.faults.drop_socket_after_seconds = 0.5
    session = await Session.start(server, generation)
    try:
        await session.control.wait_closed(10)
        await server.wait_for_event(lambda e: e["type"] == "stream_closed")
        assert server.peer_connections == [] and server.rooms == []
        # (a LiveKit client now retries its room for a while, as after any network drop)
    finally:
        await session.close()


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_insufficient_credits_ends_the_generation(server, generation):
    server.faults.insufficient_credits_after_seconds = 0.5
    session = await Session.start(server, generation)
    try:
        ended = await session.control.wait_for("generation_ended", 10)
        assert ended["reason"] == "insufficient_credits"
        assert "Insufficient credits" in (await session.control.wait_for("error"))["error"]
        await session.control.wait_closed(5)
    finally:
        await _ended(server, session)


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_acks_delayed_and_errors_sent_alike(server, generation):
    server.faults.ack_delay = 0.3
    server.faults.error_after_seconds = 0.3
    session = await Session.start(server, generation)
    try:
        sent = time.monotonic()
        await session.control.send(protocol.Prompt("slow"))
        await session.control.wait_for("prompt_ack", 5)
        assert time.monotonic() - sent >= 0.3
        assert (await session.control.wait_for("error", 5))["error"] == Faults().error_text
    finally:
        await _ended(server, session)


async def test_close_rooms_ends_the_room_not_the_session(server):
    session = await Session.start(server, "livekit")
    peer = session.peer
    try:
        await session.wait_frames(3)
        assert server.close_rooms() == 1
        await asyncio.wait_for(peer.disconnected.wait(), 10)
        assert peer.disconnect_reason == rtc.DisconnectReason.ROOM_DELETED
        await server.wait_for_event(lambda e: e["type"] == "participant_left")
        assert server.rooms == [] and server.peer_connections == [] and not session.control.closed.is_set()
        # a client that joins again on its socket gets a new room
        mark = session.control.mark()
        await session.control.send(protocol.LiveKitJoin())
        info = await session.control.wait_for("livekit_room_info", since=mark)
        assert info["room_name"] in server.rooms and info["session_id"] == peer.info["session_id"]
        again = LiveKitPeer(session.control, info)
        await again.connect()
        await again.publish(320, 240)
        await again.wait_frames(3)
        session.peer = again
        await peer.close()
    finally:
        await _ended(server, session)


async def test_close_rooms_with_no_rooms_and_a_stopped_server():
    server = LocalServer(model="passthrough")
    assert server.close_rooms() == 0
    async with server:
        assert server.close_rooms() == 0
