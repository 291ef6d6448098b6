"""One connection attempt: the control socket (when the generation has one)
and a media link, driven in the order of docs/protocol.md:

1. open the WebSocket;
2. the link's ``join`` (LiveKit: ``livekit_join`` → ``livekit_room_info``);
3. the initial state, acknowledged before media starts;
4. the link's ``start`` (media connected);
5. LiveKit only, with no initial state: the passthrough ``set_image``.

The attempt reports what happens through ``on_event`` and resolves ``lost``
when the socket or the media drops. It never retries: that is the
supervisor's job. ``phase`` says which step is running, so a timeout can
name it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import av

from .. import protocol as P
from ..errors import (
    DecartError,
    InvalidAPIKeyError,
    ServerError,
    WebSocketError,
    is_permanent_error,
)
from ..media.forwarding import EncodedFeed
from ..signaling import SignalingChannel, server_error
from ._link import LinkPeers, LinkSettings, MediaLink
from ._types import StateSpec

log = logging.getLogger(__name__)

__all__ = ["Attempt", "LinkFactory"]

T = TypeVar("T")
LinkFactory = Callable[[LinkSettings, LinkPeers, "SignalingChannel | None"], MediaLink]


class Attempt:
    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        url: str | None,
        settings: LinkSettings,
        make_link: LinkFactory,
        upstream: Any,
        deliver: Callable[[av.VideoFrame], None],
        on_event: Callable[[Attempt, str, Any], None],
        output_feed: EncodedFeed | None = None,
        arrived: Callable[[int | None], None] | None = None,
        deliver_decoded: Callable[[av.VideoFrame], None] | None = None,
    ) -> None:
        self._settings = settings
        self._timeouts = settings.timeouts
        self._on_event = on_event
        self._deliver = deliver
        #: perf_counter() of the last output frame this attempt received.
        self.last_frame_at: float | None = None
        self.channel = SignalingChannel(http, url, self._on_message) if url is not None else None
        self._arrived = arrived
        peers = LinkPeers(
            upstream=upstream, deliver=self._frame, report=lambda kind, payload: on_event(self, kind, payload),
            output_feed=output_feed, arrived=self._frame_arrived, deliver_decoded=deliver_decoded,
        )
        self.link = make_link(settings, peers, self.channel)
        loop = asyncio.get_running_loop()
        #: Resolves (once) with the reason the attempt dropped.
        self.lost: asyncio.Future[DecartError | None] = loop.create_future()
        #: A permanent error the server sent on this attempt (never retried).
        self.fatal: DecartError | None = None
        #: The step running now: websocket, join, initial_state, media, passthrough, up.
        self.phase = "websocket"
        self._watchers: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def sender(self) -> bool:
        return self.link.peers.upstream is not None

    # -- lifecycle ---------------------------------------------------------

    async def open(self, initial: StateSpec | None) -> None:
        """Run steps 1-5. When a step fails because the server said why and
        closed (an invalid key, say), the server's reason is raised rather
        than the symptom."""
        try:
            await self._open(initial)
        except DecartError as exc:
            await self.settle()
            reason = self.fatal
            if reason is None and self.channel is not None and self.channel.closed.done():
                reason = self.channel.closed.result()
            if isinstance(reason, (InvalidAPIKeyError, ServerError)) and reason is not exc:
                raise reason from exc
            raise

    async def _open(self, initial: StateSpec | None) -> None:
        self._watch(self._follow_link(), "decart-link-watch")
        if self.channel is not None:
            await self.channel.open(self._timeouts.websocket)
            self._watch(self._follow_channel(), "decart-channel-watch")
        self.phase = "join"
        await self._step(self.link.join())
        if initial is not None:
            self.phase = "initial_state"
            await self._step(self.send_state(initial))
        self.phase = "media"
        await self._step(self.link.start())
        if initial is None and self.sender and self.link.passthrough_without_state:
            self.phase = "passthrough"
            await self._step(self.send_state(StateSpec()))
        self.phase = "up"

    async def send_state(self, state: StateSpec) -> None:
        channel = self.channel
        if channel is None:
            raise WebSocketError("this session has no control socket (view-only)")
        if state.image_b64 is not None or state.prompt is None:
            await channel.request_set_image(
                state.image_b64, state.prompt, state.enhance if state.prompt is not None else None, self._timeouts.image
            )
        else:
            await channel.request_prompt(state.prompt, state.enhance, self._timeouts.prompt)

    async def _step(self, aw: Awaitable[T]) -> T:
        """Await one step, or fail with the reason the attempt was lost meanwhile."""
        task = asyncio.ensure_future(aw)
        either: set[asyncio.Future[Any]] = {task, self.lost}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        reason = self.lost.result()
        raise reason or WebSocketError(f"connection lost during {self.phase}")

    async def settle(self, grace: float = 0.5) -> None:
        """After a drop, give the socket a moment to deliver the server's last
        words (an ``error`` saying why) before the supervisor decides to retry."""
        if self.channel is not None and not self.channel.closed.done():
            await asyncio.wait({self.channel.closed}, timeout=grace)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._mark_lost(None)
        for task in self._watchers:
            task.cancel()
        # the socket first: a server ends the session (and its room) when it closes
        if self.channel is not None:
            await self.channel.close()
        await self.link.close()
        if self._watchers:
            await asyncio.wait(self._watchers, timeout=5)

    # -- events ------------------------------------------------------------

    def _watch(self, coro: Any, name: str) -> None:
        self._watchers.append(asyncio.get_running_loop().create_task(coro, name=name))

    def _mark_lost(self, reason: DecartError | None) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    async def _follow_channel(self) -> None:
        assert self.channel is not None
        reason = await self.channel.closed
        self._mark_lost(reason or WebSocketError("WebSocket closed"))

    async def _follow_link(self) -> None:
        reason = await self.link.lost
        self._mark_lost(reason)

    def _frame(self, frame: av.VideoFrame) -> None:
        self.last_frame_at = time.perf_counter()
        self._deliver(frame)

    def _frame_arrived(self, timestamp: int | None = None) -> None:
        """An encoded output frame arrived (decoded or not, it counts as output)."""
        self.last_frame_at = time.perf_counter()
        if self._arrived is not None:
            self._arrived(timestamp)

    def _on_message(self, msg: P.Message) -> None:
        if self.link.handle(msg):
            return
        if isinstance(msg, P.QueuePosition):
            self._on_event(self, "queue", (msg.position, msg.queue_size))
        elif isinstance(msg, P.GenerationStarted):
            self._on_event(self, "generation_started", None)
        elif isinstance(msg, P.GenerationTick):
            self._on_event(self, "generation_tick", msg.seconds)
        elif isinstance(msg, P.GenerationEnded):
            self._on_event(self, "generation_ended", msg)
        elif isinstance(msg, P.Error):
            err = server_error(msg.error)
            if is_permanent_error(msg.error):
                self.fatal = err
            self._on_event(self, "error", err)
