"""The media link: what moves frames between a session and the model server
for one connection attempt. Two implementations share this contract:

- :class:`~._webrtc_link.WebRtcLink`, the legacy generation: an aiortc peer
  connection negotiated with ``offer``/``answer`` on the control socket;
- :class:`~._livekit_link.LiveKitLink`, the current generation:
  ``livekit_join`` → ``livekit_room_info`` on the control socket, then a
  LiveKit room joined with the PyPI ``livekit`` client.

A link never retries and never touches prompts or state: the attempt
(:mod:`._attempt`) drives it step by step and the supervisor decides what a
loss means. The order of an attempt is: open the socket, :meth:`join`, send
the initial state, :meth:`start`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar

import av

from .. import protocol as P
from ..errors import DecartError
from ..media.forwarding import EncodedFeed
from ..media.track import FramePump
from ..signaling import SignalingChannel
from ._stats import TransportSample
from ._types import Timeouts

log = logging.getLogger(__name__)

__all__ = ["MediaLink", "LinkSettings", "LinkPeers"]


@dataclass(frozen=True)
class LinkSettings:
    """What every attempt's link gets from the session's options."""

    loopback: bool
    timeouts: Timeouts
    #: ``"h264"``, ``"vp8"``, ``"vp9"`` or None for the link's default.
    codec: str | None = None
    #: Upstream bits/s, or None for the encoder's own control.
    bitrate: int | None = None


def _nothing(timestamp: int | None = None) -> None:
    pass


@dataclass(frozen=True)
class LinkPeers:
    """Where a link's frames come from and go to, and whom it tells."""

    #: The session's upstream frames; None for a view-only session.
    upstream: FramePump | None
    #: Called on the media loop with every received output frame (yuv420p).
    deliver: Callable[[av.VideoFrame], None]
    #: Events for the session: ``("queue", (position, size))``, ``("session_info", SessionInfo)``.
    report: Callable[[str, Any], None]
    #: For a link that sees the encoded output (aiortc): where its encoded
    #: frames go (attach the receiver's tap), ``arrived(timestamp)`` for each
    #: as it arrives, and ``deliver_decoded(frame)`` for those it decodes (already
    #: counted: not ``deliver``).
    output_feed: EncodedFeed | None = None
    arrived: Callable[[int | None], None] = _nothing
    deliver_decoded: Callable[[av.VideoFrame], None] | None = None


class MediaLink(abc.ABC):
    """One attempt's media path. Subclasses implement :meth:`start`,
    :meth:`sample` and :meth:`close`, and may take part in :meth:`join` and
    :meth:`handle`."""

    #: ``"webrtc"`` or ``"livekit"``.
    kind: ClassVar[str]
    #: With no initial state, a sender sends the passthrough ``set_image``
    #: once media is up (the order of Python SDK 0.2.4's LiveKit flow).
    passthrough_without_state: ClassVar[bool] = False

    def __init__(self, settings: LinkSettings, peers: LinkPeers, channel: SignalingChannel | None) -> None:
        self.settings = settings
        self.peers = peers
        #: The attempt's control socket (None for a LiveKit viewer, which has none).
        self.channel = channel
        #: Resolves (once) with the reason media dropped.
        self.lost: asyncio.Future[DecartError | None] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def join(self) -> None:  # noqa: B027 - an optional step, not part of every link
        """What the generation does before the initial state (default: nothing)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Bring media up; returns once it is connected (raises otherwise)."""

    def handle(self, msg: P.Message) -> bool:
        """A control message only this generation knows; True when consumed."""
        return False

    @abc.abstractmethod
    async def sample(self) -> TransportSample | None:
        """Cumulative transport counters, or None when there are none yet."""

    def media_received(self) -> int | None:
        """A count that grows while media packets arrive (None when the link
        cannot tell): output that stops while packets still arrive is a
        starved decoder, not frozen media, and a reconnect would not help."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Release everything the link holds; idempotent."""

    def mark_lost(self, reason: DecartError | None) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task the link owns: :meth:`cancel_tasks` ends it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("%s link task %s failed: %s", self.kind, task.get_name(), exc, exc_info=exc)

    async def cancel_tasks(self, timeout: float = 5.0) -> None:
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                log.warning("%s link tasks did not stop within %g s: %s", self.kind, timeout, [t.get_name() for t in pending])
