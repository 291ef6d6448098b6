"""One realtime connection (``/v1/stream``): protocol handling, model state,
generation ticks, injected faults; the media goes through a transport.

Message handling (docs/protocol.md), the same in both generations:

- media messages (``offer``, ``answer``, ``ice-candidate``, ``livekit_join``)
  go, in order, to the stream's media transport, chosen by the first of them
  (:mod:`._media`): direct WebRTC, or a LiveKit room on this server. Before
  the first ``offer``/``livekit_join`` the stream waits in the queue that
  ``Faults.queue_positions`` asks for, sending ``queue_position``;
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
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay

from .. import protocol
from ..common.tasks import TaskSet
from ._images import ImageDecodeError, decode_image_data
from ._media import MEDIA_MESSAGES, MediaTransport, StreamMedia, transport_for
from ._sockets import close_socket
from ._state import ServerState
from ._tracks import FrameProcessor, OutputTrack, drain
from .faults import INSUFFICIENT_CREDITS_ERROR, MODERATION_ERROR
from .model_api import ModelState

__all__ = ["Stream", "StreamInfo"]

log = logging.getLogger(__name__)


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
    #: "webrtc" (legacy offer/answer), "livekit" (a room), or None before any media message
    generation: str | None = None


class Stream(StreamMedia):
    def __init__(self, server: ServerState, ws: web.WebSocketResponse, request: web.Request,
                 session_id: str, model_name: str) -> None:
        self.server = server
        self.ws = ws
        self.request = request
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
        self._requests: asyncio.Queue[tuple[protocol.Message, dict[str, Any], bool]] = asyncio.Queue()
        self._media_messages: asyncio.Queue[protocol.Message] = asyncio.Queue()
        self.media: MediaTransport | None = None
        self._queue_waited = False
        self._wrong_generation_logged = False
        self._faults_changed = asyncio.Event()
        self._tasks = TaskSet(f"session {session_id}")
        self.subscribers: set[Any] = set()  # _subscribe.Subscriber
        self.output = OutputTrack(on_frame_sent=self._on_frame_sent)
        self.relay = MediaRelay()
        self.processor = FrameProcessor(
            server.model, lambda: self.state, self.output,
            thread_name=f"decart-server-model-{session_id[:8]}",
            trusted_identity=server.trusted_identity,
            on_frame_processed=self._on_frame_processed,
        )

    # -- observability --------------------------------------------------
    def info(self) -> StreamInfo:
        p = self.processor
        return StreamInfo(self.session_id, self.model_name, self.state, self.generating, p.frames_in,
                          p.frames_out, p.frames_dropped, p.model_errors, len(self.subscribers),
                          self.connected_at, self.media.generation if self.media is not None else None)

    def record(self, type_: str, *, source: str = "client", **fields: Any) -> None:
        self.server.events.append(self.session_id, type_, source=source, **fields)

    def subscribe_output(self) -> MediaStreamTrack:
        """A new consumer of this stream's output (the client, or a subscriber)."""
        return self.relay.subscribe(self.output, buffered=False)

    # -- StreamMedia: what the media transport asks of the stream -------
    def media_output(self) -> MediaStreamTrack:
        return self.subscribe_output()

    def media_input(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.processor.set_input(track)
        else:
            self._spawn(drain(track))  # unread remote tracks buffer without bound

    def media_live(self) -> None:
        if self._live_at is None and not self._closed:
            self._live_at = asyncio.get_running_loop().time()
            self.record("stream_live", source="server", generation=self.media.generation if self.media else None)
            self._spawn(self._watch_faults())

    def media_failed(self, why: str) -> None:
        log.info("session %s: %s; closing the stream", self.session_id, why)
        self._spawn(self.close())

    def apply_initial_state(self, msg: protocol.Prompt | protocol.SetImage) -> None:
        self._requests.put_nowait((msg, protocol.to_obj(msg), False))

    # -- running --------------------------------------------------------
    async def run(self) -> None:
        """Serve the socket until it closes."""
        self._spawn(self._request_loop())
        self._spawn(self._media_loop())
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    log.warning("session %s: dropping a binary WebSocket message", self.session_id)
                    self.record("binary")
                else:
                    break
        finally:
            await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro)

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
            self.record("malformed_json")
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
        self.record(kind[:64] if isinstance(kind, str) else "invalid", **fields)
        if msg is None:
            return
        if isinstance(msg, (protocol.Prompt, protocol.SetImage)):
            self._requests.put_nowait((msg, obj, True))
        elif isinstance(msg, MEDIA_MESSAGES):
            self._media_messages.put_nowait(msg)
        # ready and server-to-client types are ignored

    # -- media messages -------------------------------------------------
    async def _media_loop(self) -> None:
        while True:
            msg = await self._media_messages.get()
            if self.media is None:
                self.media = transport_for(msg, self)
                self.record("generation", source="server", generation=self.media.generation)
            elif not self.media.accepts(msg):
                if not self._wrong_generation_logged:
                    self._wrong_generation_logged = True
                    log.warning("session %s: ignoring %s on a %s stream (one generation per socket; "
                                "logged once)", self.session_id, msg.type, self.media.generation)
                self.record("ignored_media_message", source="server", message=msg.type)
                continue
            if not self._queue_waited and self.media.starts_session(msg):
                self._queue_waited = True
                await self._wait_in_queue()
            try:
                await self.media.handle(msg)
            except Exception:  # noqa: BLE001 - never let one message end the stream
                log.exception("session %s: error handling a %s message", self.session_id, msg.type)

    async def _wait_in_queue(self) -> None:
        """``Faults.queue_positions`` positions, ``queue_step_ms`` apart, counting down."""
        faults = self.server.faults
        size, step = int(faults.queue_positions), max(0.0, faults.queue_step_ms / 1000)
        if size <= 0:
            return
        self.record("queued", source="server", positions=size)
        for position in range(size, 0, -1):
            await self.send(protocol.QueuePosition(position, size))
            await asyncio.sleep(step)

    # -- prompt / image requests ----------------------------------------
    async def _request_loop(self) -> None:
        while True:
            msg, raw, acked = await self._requests.get()
            if not acked:  # a state carried inside a join: applied at once, never acked
                await self._apply(msg, raw)
                continue
            delay = self.server.faults.ack_delay
            if delay and delay > 0:
                await asyncio.sleep(delay)
            ack = await self._apply(msg, raw)
            if self.server.faults.drop_acks:
                self.record("ack_dropped", source="server", ack=ack.type)
                continue
            await self.send(ack)

    async def _apply(self, msg: protocol.Message, raw: dict[str, Any]) -> protocol.Message:
        faults = self.server.faults
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
            self.record("generation_started", source="server")
            self._spawn(self._generate())

    async def _generate(self) -> None:
        await self.send(protocol.GenerationStarted())
        loop = asyncio.get_running_loop()
        interval = max(0.01, self.server.tick_interval)
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
        after = self.server.faults.drop_socket_after_frames
        if after is not None and self.processor.frames_out >= after and "drop_frames" not in self._fired:
            self._fired.add("drop_frames")
            self.record("fault", source="server", fault="drop_socket_after_frames")
            self._spawn(self.drop())

    async def _watch_faults(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._live_at is not None
        while True:
            f = self.server.faults
            due = [(self._live_at + after, name) for name, after in (
                ("drop_socket_after_seconds", f.drop_socket_after_seconds),
                ("error_after_seconds", f.error_after_seconds),
                ("insufficient_credits_after_seconds", f.insufficient_credits_after_seconds),
                ("freeze_output_after_seconds", f.freeze_output_after_seconds),
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
            self.record("fault", source="server", fault=name)
            if name == "drop_socket_after_seconds":
                await self.drop()
            elif name == "error_after_seconds":
                await self.send(protocol.Error(f.error_text))
            elif name == "freeze_output_after_seconds":
                self.output.freeze()  # the socket, ticks and acks go on
            else:
                await self.end_for_credits()

    async def end_for_credits(self) -> None:
        await self.send(protocol.GenerationEnded(self.generated_seconds(), "insufficient_credits"))
        await self.send(protocol.Error(INSUFFICIENT_CREDITS_ERROR))
        await self.close()

    async def drop(self) -> None:
        """Abruptly end the stream: media dropped, TCP connection aborted."""
        if self.media is not None:
            await self.media.close(abrupt=True)
        transport = self.request.transport
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
        tasks = self._tasks.cancel()
        for sub in list(self.subscribers):
            await sub.close()
        if self.media is not None:
            await self.media.close()
        self.output.stop()
        await self.processor.close()
        await close_socket(self.ws)
        await asyncio.gather(*tasks, return_exceptions=True)
        p = self.processor
        self.record("stream_closed", source="server", frames_in=p.frames_in, frames_out=p.frames_out,
                     frames_dropped=p.frames_dropped, seconds=self.generated_seconds())

