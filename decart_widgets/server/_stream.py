"""One realtime connection (``/v1/stream``): protocol handling, model state,
peer connection, generation ticks, injected faults.

Message handling (docs/protocol.md):

- signaling (``offer``, ``answer``, ``ice-candidate``) is handled in order as
  it arrives; candidates before the answer are queued by :class:`ServerPeer`;
- state requests (``prompt``, ``set_image``) go through one ordered queue:
  each is applied, then acknowledged, so frames after the ack use it, acks
  stay in order, and an injected ``ack_delay`` never holds up signaling;
- everything else (unknown types, ``ready``, malformed JSON) is recorded and
  dropped. Nothing a client sends ends the stream except closing it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from .. import protocol
from ._events import EventLog
from ._images import ImageDecodeError, decode_image_data
from ._peer import ServerPeer
from ._tracks import FrameProcessor, OutputTrack
from .faults import INSUFFICIENT_CREDITS_ERROR, MODERATION_ERROR, Faults
from .model_api import LocalModel, ModelState

__all__ = ["Stream", "StreamContext", "StreamInfo"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamContext:
    """What a stream needs from its server."""

    host: str
    port: int
    loopback: bool
    model: LocalModel
    trusted_identity: bool
    tick_interval: float
    faults: Callable[[], Faults]
    events: EventLog
    peer_connections: set[RTCPeerConnection]


@dataclass(frozen=True)
class StreamInfo:
    """A snapshot of one live stream (``server.streams``)."""

    session_id: str
    model: str
    state: ModelState
    generating: bool
    frames_in: int
    frames_out: int
    frames_dropped: int
    model_errors: int
    subscribers: int
    connected_at: float


class Stream:
    def __init__(self, ctx: StreamContext, ws: web.WebSocketResponse, request: web.Request,
                 session_id: str, model_name: str) -> None:
        self.ctx = ctx
        self.ws = ws
        self._request = request
        self.session_id = session_id
        self.model_name = model_name
        self.state = ModelState(session_id=session_id)
        self.connected_at = time.time()
        self.generating = False
        self._gen_started: float | None = None
        self._live_at: float | None = None
        self._fired: set[str] = set()
        self._closed = False
        self._send_lock = asyncio.Lock()
        self._requests: asyncio.Queue[tuple[protocol.Message, dict[str, Any]]] = asyncio.Queue()
        self._faults_changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.subscribers: set[Any] = set()  # _subscribe.Subscriber
        self.output = OutputTrack(on_frame_sent=self._on_frame_sent)
        self.relay = MediaRelay()
        self.processor = FrameProcessor(
            ctx.model, lambda: self.state, self.output,
            thread_name=f"decart-server-model-{session_id[:8]}",
            trusted_identity=ctx.trusted_identity,
            on_frame_processed=self._on_frame_processed,
        )
        self.peer = ServerPeer(loopback=ctx.loopback, registry=ctx.peer_connections,
                               on_track=self._on_track, on_failed=self._on_pc_failed)

    # -- observability --------------------------------------------------
    def info(self) -> StreamInfo:
        p = self.processor
        return StreamInfo(self.session_id, self.model_name, self.state, self.generating, p.frames_in,
                          p.frames_out, p.frames_dropped, p.model_errors, len(self.subscribers),
                          self.connected_at)

    def _record(self, type_: str, *, source: str = "client", **fields: Any) -> None:
        self.ctx.events.append(self.session_id, type_, source=source, **fields)

    def subscribe_output(self) -> MediaStreamTrack:
        """A new consumer of this stream's output (the client, or a subscriber)."""
        return self.relay.subscribe(self.output, buffered=False)

    # -- running --------------------------------------------------------
    async def run(self) -> None:
        """Serve the socket until it closes."""
        self._spawn(self._request_loop())
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    log.warning("session %s: dropping a binary WebSocket message", self.session_id)
                    self._record("binary")
                else:
                    break
        finally:
            await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: task failed", self.session_id, exc_info=task.exception())

    async def send(self, msg: protocol.Message) -> bool:
        if self.ws.closed:
            return False
        try:
            async with self._send_lock:
                await self.ws.send_str(protocol.encode(msg))
            return True
        except (ConnectionError, RuntimeError) as exc:
            log.debug("session %s: could not send %s: %s", self.session_id, msg.type, exc)
            return False

    # -- incoming messages ----------------------------------------------
    async def _on_text(self, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            log.warning("session %s: dropping malformed JSON (%d chars)", self.session_id, len(text))
            self._record("malformed_json")
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        msg = protocol.parse_obj(obj)
        fields: dict[str, Any] = {}
        if isinstance(msg, protocol.Prompt):
            fields["prompt"] = msg.prompt
        elif isinstance(msg, protocol.SetImage):
            fields["prompt"], fields["has_image"] = msg.prompt, msg.image_data is not None
        elif isinstance(msg, protocol.IceCandidate):
            fields["end"] = msg.is_end
        if msg is None:
            fields["ignored"] = True
        self._record(kind[:64] if isinstance(kind, str) else "invalid", **fields)
        if msg is None:
            return
        try:
            if isinstance(msg, (protocol.Prompt, protocol.SetImage)):
                self._requests.put_nowait((msg, obj))
            elif isinstance(msg, protocol.Offer):
                await self._on_offer(msg.sdp)
            elif isinstance(msg, protocol.IceCandidate):
                await self.peer.add_candidate(msg.candidate)
            elif isinstance(msg, protocol.Answer):
                await self.peer.handle_answer(msg.sdp)
            # ready and server-to-client types are ignored
        except Exception:  # noqa: BLE001 - never let one message end the stream
            log.exception("session %s: error handling a %s message", self.session_id, msg.type)

    async def _on_offer(self, sdp: str) -> None:
        try:
            answer = await self.peer.answer(sdp, self.subscribe_output())
        except Exception as exc:  # noqa: BLE001
            log.warning("session %s: could not answer the offer: %s", self.session_id, exc)
            await self.send(protocol.Error(f"Signaling error: could not answer the offer ({exc})"))
            return
        await self.send(protocol.Answer(answer))
        await self.send(protocol.SessionId(self.session_id, self.ctx.host, self.ctx.port))
        if self._live_at is None:
            self._live_at = asyncio.get_running_loop().time()
            self._record("stream_live", source="server")
            self._spawn(self._watch_faults())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.processor.set_input(track)
        else:
            self._spawn(_drain(track))  # unread remote tracks buffer without bound

    def _on_pc_failed(self) -> None:
        log.info("session %s: peer connection failed; closing the stream", self.session_id)
        self._spawn(self.close())

    # -- prompt / image requests ----------------------------------------
    async def _request_loop(self) -> None:
        while True:
            msg, raw = await self._requests.get()
            delay = self.ctx.faults().ack_delay
            if delay and delay > 0:
                await asyncio.sleep(delay)
            ack = await self._apply(msg, raw)
            if self.ctx.faults().drop_acks:
                self._record("ack_dropped", source="server", ack=ack.type)
                continue
            await self.send(ack)

    async def _apply(self, msg: protocol.Message, raw: dict[str, Any]) -> protocol.Message:
        faults = self.ctx.faults()
        if isinstance(msg, protocol.Prompt):
            if faults.is_moderated(msg.prompt):
                return protocol.PromptAck(msg.prompt, False, MODERATION_ERROR)
            self._set_state(prompt=msg.prompt.strip() or None, enhance=msg.enhance_prompt)
            return protocol.PromptAck(msg.prompt, True, None)
        assert isinstance(msg, protocol.SetImage)
        if faults.is_moderated(msg.prompt):
            return protocol.SetImageAck(False, MODERATION_ERROR)
        image = None
        if msg.image_data is not None:
            try:
                image = await self.processor.run_in_worker(decode_image_data, msg.image_data)
            except ImageDecodeError as exc:
                return protocol.SetImageAck(False, f"set_image rejected: {exc}")
            except RuntimeError:  # worker already shut down: the stream is closing
                return protocol.SetImageAck(False, "set_image rejected: the stream is closing")
        changes: dict[str, Any] = {"image": image}
        if "prompt" in raw:  # absent: keep the prompt; null: clear it
            changes["prompt"] = (msg.prompt or "").strip() or None
            changes["enhance"] = msg.enhance_prompt is not False
        self._set_state(**changes)
        return protocol.SetImageAck(True, None)

    def _set_state(self, **changes: Any) -> None:
        self.state = dataclasses.replace(self.state, version=self.state.version + 1, **changes)

    # -- generation -----------------------------------------------------
    def _on_frame_sent(self) -> None:
        if not self.generating and not self._closed:
            self.generating = True
            self._gen_started = asyncio.get_running_loop().time()
            self._record("generation_started", source="server")
            self._spawn(self._generate())

    async def _generate(self) -> None:
        await self.send(protocol.GenerationStarted())
        loop = asyncio.get_running_loop()
        interval = max(0.01, self.ctx.tick_interval)
        assert self._gen_started is not None
        k = 0
        while True:
            k += 1
            await asyncio.sleep(max(0.0, self._gen_started + k * interval - loop.time()))
            await self.send(protocol.GenerationTick(int(k * interval + 1e-6)))

    def generated_seconds(self) -> int:
        if self._gen_started is None:
            return 0
        return int(asyncio.get_running_loop().time() - self._gen_started)

    # -- faults ---------------------------------------------------------
    def faults_changed(self) -> None:
        """Called on the server loop after ``server.faults`` changed."""
        self._faults_changed.set()

    def _on_frame_processed(self) -> None:
        after = self.ctx.faults().drop_socket_after_frames
        if after is not None and self.processor.frames_out >= after and "drop_frames" not in self._fired:
            self._fired.add("drop_frames")
            self._record("fault", source="server", fault="drop_socket_after_frames")
            self._spawn(self.drop())

    async def _watch_faults(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._live_at is not None
        while True:
            f = self.ctx.faults()
            due = [(self._live_at + after, name) for name, after in (
                ("drop_socket_after_seconds", f.drop_socket_after_seconds),
                ("error_after_seconds", f.error_after_seconds),
                ("insufficient_credits_after_seconds", f.insufficient_credits_after_seconds),
            ) if after is not None and name not in self._fired]
            self._faults_changed.clear()
            if not due:
                await self._faults_changed.wait()
                continue
            at, name = min(due)
            if at > loop.time():
                try:
                    await asyncio.wait_for(self._faults_changed.wait(), at - loop.time())
                except asyncio.TimeoutError:
                    pass
                continue  # re-read: the fault may have been reset meanwhile
            self._fired.add(name)
            self._record("fault", source="server", fault=name)
            if name == "drop_socket_after_seconds":
                await self.drop()
            elif name == "error_after_seconds":
                await self.send(protocol.Error(f.error_text))
            else:
                await self.end_for_credits()

    async def end_for_credits(self) -> None:
        await self.send(protocol.GenerationEnded(self.generated_seconds(), "insufficient_credits"))
        await self.send(protocol.Error(INSUFFICIENT_CREDITS_ERROR))
        await self.close()

    async def drop(self) -> None:
        """Abruptly end the stream: peer connection closed, TCP connection aborted."""
        await self.peer.close()
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        await self.close()

    # -- ending ---------------------------------------------------------
    async def close(self, *, reason: str | None = None) -> None:
        """Idempotent. ``reason`` (e.g. ``server_shutdown``) is sent as
        ``generation_ended`` first when the client can still hear it."""
        if self._closed:
            return
        self._closed = True
        if reason is not None and self.generating:
            await self.send(protocol.GenerationEnded(self.generated_seconds(), reason))
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        for sub in list(self.subscribers):
            await sub.close()
        await self.peer.close()
        self.output.stop()
        await self.processor.close()
        if not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 2.0)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass
        await asyncio.gather(*tasks, return_exceptions=True)
        p = self.processor
        self._record("stream_closed", source="server", frames_in=p.frames_in, frames_out=p.frames_out,
                     frames_dropped=p.frames_dropped, seconds=self.generated_seconds())


async def _drain(track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        return
