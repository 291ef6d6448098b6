"""One connection attempt to a realtime endpoint: the WebSocket, the initial
state, the peer connection and its negotiation (docs/protocol.md section 4).

A session makes a new :class:`Connection` for every (re)connect; the
connection reports what happens through ``on_event`` and resolves ``lost``
when it drops. It never retries: that is the session's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from . import protocol as P
from .common.bitrate import vp8_bitrate
from .common.rtc import loopback_ice, new_peer_connection, prefer_codec
from .errors import (
    DecartError,
    IceError,
    InvalidAPIKeyError,
    ServerError,
    SignalingError,
    TimeoutError_,
    WebSocketError,
    is_permanent_error,
)
from .signaling import SignalingChannel, server_error

log = logging.getLogger(__name__)

__all__ = ["Connection", "StateSpec", "Timeouts"]


@dataclass(frozen=True)
class StateSpec:
    """A prompt/image state: what is sent initially and restored on reconnect."""

    prompt: str | None = None
    enhance: bool = True
    image_b64: str | None = None


@dataclass(frozen=True)
class Timeouts:
    prompt: float = 15.0
    image: float = 30.0
    connect: float = 300.0
    websocket: float = 30.0


class Connection:
    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        url: str,
        track: MediaStreamTrack | None,
        loopback: bool,
        timeouts: Timeouts,
        on_event: Callable[[str, Any], None],
        on_output_frame: Callable[[Any], None],
        bitrate: int | None = None,
    ) -> None:
        self._bitrate = bitrate
        self._url = url
        self._track = track
        self._loopback = loopback
        self._timeouts = timeouts
        self._on_event = on_event
        self._on_output_frame = on_output_frame
        self.channel = SignalingChannel(http, url, self._on_message)
        self.pc = new_peer_connection()
        self.session_id: str | None = None
        self.server_ip: str | None = None
        self.server_port: int | None = None
        loop = asyncio.get_running_loop()
        self._answer: asyncio.Future[P.Answer] = loop.create_future()
        self._connected: asyncio.Future[None] = loop.create_future()
        #: Resolves (once) with the reason the connection dropped.
        self.lost: asyncio.Future[DecartError | None] = loop.create_future()
        self._pending_candidates: list[P.CandidateDict] = []
        self._remote_set = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        #: A permanent error the server sent on this connection (never retried).
        self.fatal: DecartError | None = None
        self.pc.on("connectionstatechange", self._on_pc_state)
        self.pc.on("track", self._on_track)

    # -- lifecycle ---------------------------------------------------------

    async def open(self, initial: StateSpec | None) -> None:
        """Open the socket, send the initial state, negotiate, wait for ICE.

        When a step fails because the server said why and closed (an invalid
        key, say), the server's reason is raised rather than the symptom.
        """
        try:
            await self._open(initial)
        except DecartError as exc:
            await self.settle()
            reason = self.fatal
            if reason is None and self.channel.closed.done():
                reason = self.channel.closed.result()
            if isinstance(reason, (InvalidAPIKeyError, ServerError)) and reason is not exc:
                raise reason from exc
            raise

    async def _open(self, initial: StateSpec | None) -> None:
        await self.channel.open(self._timeouts.websocket)
        self._spawn(self._watch_channel(), "decart-channel-watch")
        if initial is not None:
            await self.send_state(initial)
        if self._track is not None:
            transceiver = self.pc.addTransceiver(self._track, direction="sendrecv")
        else:
            transceiver = self.pc.addTransceiver("video", direction="recvonly")
        prefer_codec(transceiver, "video/VP8")
        with loopback_ice(self._loopback):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.channel.send(P.Offer(self.pc.localDescription.sdp))
        # aiortc gathers every candidate before the offer exists, so they all
        # ride in the SDP; tell the server there are no more to trickle.
        await self.channel.send(P.IceCandidate(None))
        answer = await self._wait(self._answer, "answer")
        # the sender starts here; its encoder takes the pinned bitrate
        with vp8_bitrate(self._bitrate):
            await self.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        self._remote_set = True
        for cand in self._pending_candidates:
            await self._add_candidate(cand)
        self._pending_candidates.clear()
        await self._wait(self._connected, "ice")

    async def send_state(self, state: StateSpec) -> None:
        if state.image_b64 is not None or (state.prompt is None):
            await self.channel.request_set_image(
                state.image_b64,
                state.prompt,
                state.enhance if state.prompt is not None else None,
                self._timeouts.image,
            )
        else:
            await self.channel.request_prompt(state.prompt, state.enhance, self._timeouts.prompt)

    async def _wait(self, fut: asyncio.Future[Any], phase: str) -> Any:
        done, _ = await asyncio.wait(
            {fut, self.lost}, timeout=self._timeouts.connect, return_when=asyncio.FIRST_COMPLETED
        )
        if fut in done:
            return fut.result()
        if self.lost in done:
            reason = self.lost.result()
            raise reason or WebSocketError(f"connection lost while waiting for {phase}")
        raise TimeoutError_(f"no {phase} within {self._timeouts.connect:g} s", phase=phase)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._mark_lost(None)
        for task in list(self._tasks):
            task.cancel()
        await self.channel.close()
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - closing regardless
            log.debug("peer connection close failed", exc_info=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def settle(self, grace: float = 0.5) -> None:
        """After a drop, give the socket a moment to deliver the server's last
        words (an ``error`` saying why) before the session decides to retry."""
        if not self.channel.closed.done():
            await asyncio.wait({self.channel.closed}, timeout=grace)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mark_lost(self, reason: DecartError | None) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    # -- events ------------------------------------------------------------

    async def _watch_channel(self) -> None:
        reason = await self.channel.closed
        self._mark_lost(reason or WebSocketError("WebSocket closed"))

    def _on_pc_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self._connected.done():
            self._connected.set_result(None)
            self._on_event("connected", None)
        elif state in ("failed", "closed") and not self._closed:
            self._mark_lost(IceError(f"peer connection {state}"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._spawn(self._consume(track), "decart-output-reader")

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self._on_output_frame(frame)
        except MediaStreamError:
            pass

    def _on_message(self, msg: P.Message) -> None:
        if isinstance(msg, P.Answer):
            if not self._answer.done():
                self._answer.set_result(msg)
        elif isinstance(msg, P.IceCandidate):
            if msg.is_end:
                return
            assert msg.candidate is not None
            if self._remote_set:
                self._spawn(self._add_candidate(msg.candidate), "decart-ice-candidate")
            else:
                self._pending_candidates.append(msg.candidate)
        elif isinstance(msg, P.SessionId):
            self.session_id = msg.session_id
            self.server_ip, self.server_port = msg.server_ip, msg.server_port
            self._on_event("session_id", msg)
        elif isinstance(msg, P.GenerationStarted):
            self._on_event("generation_started", None)
        elif isinstance(msg, P.GenerationTick):
            self._on_event("generation_tick", msg.seconds)
        elif isinstance(msg, P.GenerationEnded):
            self._on_event("generation_ended", msg)
        elif isinstance(msg, P.Error):
            err = server_error(msg.error)
            if is_permanent_error(msg.error):
                self.fatal = err
            self._on_event("error", err)
        elif isinstance(msg, P.Offer):
            self._spawn(self._renegotiate(msg), "decart-renegotiate")
        elif isinstance(msg, P.IceRestart):
            self._mark_lost(SignalingError("server asked for an ICE restart"))

    async def _renegotiate(self, offer: P.Offer) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            with loopback_ice(self._loopback):
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.channel.send(P.Answer(self.pc.localDescription.sdp))
        except Exception as exc:  # noqa: BLE001
            log.warning("server renegotiation failed: %s", exc)
            self._mark_lost(SignalingError(f"server renegotiation failed: {exc}"))

    async def _add_candidate(self, cand: P.CandidateDict) -> None:
        text = cand.get("candidate") or ""
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        try:
            candidate = candidate_from_sdp(text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:  # noqa: BLE001 - a bad candidate is not fatal
            log.warning("ignoring ICE candidate %.80r: %s", text, exc)
