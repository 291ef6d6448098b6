"""The contract between a stream's control logic and its media transport.

A stream (``/v1/stream``) runs one control logic (acks, model state, ticks,
faults) whatever carries its media. The first media message on the socket
picks the transport: ``offer`` (or a candidate, or an answer) the legacy
direct WebRTC one (:mod:`._webrtc_media`), ``livekit_join`` the LiveKit room
(:mod:`._livekit_media`). The stream offers :class:`StreamMedia` to its
transport; the transport implements :class:`MediaTransport`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from aiortc import MediaStreamTrack

from .. import protocol

if TYPE_CHECKING:
    from aiohttp import web

    from ._state import ServerState

__all__ = ["StreamMedia", "MediaTransport", "transport_for", "MEDIA_MESSAGES"]

#: Control messages that belong to a media transport rather than to the stream.
MEDIA_MESSAGES = (protocol.Offer, protocol.Answer, protocol.IceCandidate, protocol.LiveKitJoin)


class StreamMedia(ABC):
    """What a media transport may ask of its stream."""

    session_id: str
    server: ServerState
    request: web.Request

    @abstractmethod
    async def send(self, msg: protocol.Message) -> bool:
        """Send a control message on the stream's socket; False when it is gone."""

    @abstractmethod
    def media_input(self, track: MediaStreamTrack) -> None:
        """A track from the client: video feeds the model, anything else is drained."""

    @abstractmethod
    def media_output(self) -> MediaStreamTrack:
        """A new consumer of the model's output."""

    @abstractmethod
    def media_live(self) -> None:
        """The client's media was negotiated: timed faults count from now (first call only)."""

    @abstractmethod
    def media_failed(self, why: str) -> None:
        """The media connection failed for good: the stream ends."""

    @abstractmethod
    def apply_initial_state(self, msg: protocol.Prompt | protocol.SetImage) -> None:
        """Apply a state carried inside a join, without an ack (the client sends it again)."""

    @abstractmethod
    def record(self, type_: str, **fields: Any) -> None:
        """Record a server event for this stream."""

    def media_blocked(self) -> bool:
        return bool(self.server.faults.block_media)


class MediaTransport(ABC):
    #: "webrtc" (legacy offer/answer) or "livekit" (current generation)
    generation: ClassVar[str]

    def __init__(self, stream: StreamMedia) -> None:
        self.stream = stream

    @abstractmethod
    def accepts(self, msg: protocol.Message) -> bool:
        """Whether ``msg`` belongs to this transport's generation."""

    @abstractmethod
    def starts_session(self, msg: protocol.Message) -> bool:
        """Whether ``msg`` asks for the session's media (a queue is waited before it)."""

    @abstractmethod
    async def handle(self, msg: protocol.Message) -> None:
        """Act on one media message of this generation (in the order received)."""

    @abstractmethod
    async def close(self, *, abrupt: bool = False) -> None:
        """Release the media. ``abrupt``: as a network failure, without goodbyes. Idempotent."""


def transport_for(msg: protocol.Message, stream: StreamMedia) -> MediaTransport:
    """The transport the first media message of a stream asks for."""
    if isinstance(msg, protocol.LiveKitJoin):
        from ._livekit_media import LiveKitMedia

        return LiveKitMedia(stream)
    from ._webrtc_media import WebRTCMedia

    return WebRTCMedia(stream)
