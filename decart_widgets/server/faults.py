"""Fault injection for the local server: what can go wrong, settable live.

Set the fields at construction (``LocalServer(faults=Faults(ack_delay=2))``)
or change them while the server runs (``server.faults.drop_acks = True``);
changes are seen immediately, from any thread.

Every fault applies to both protocol generations alike. Timed faults
(``*_after_seconds``) count from the moment the client's camera is
negotiated: the legacy ``answer`` sent, or, in a LiveKit room, the answer to
the publisher offer that carries the camera (a client that never publishes
never starts them). Each fault fires at most once per stream, and only
while its field is set: reset a field to ``None`` before a client reconnects
and the new stream is healthy; leave it set and every new stream gets it too.
To act on the streams that are live right now, use ``server.drop_streams()``
``server.send_error(text)`` and ``server.close_rooms()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Faults", "MODERATION_ERROR", "INSUFFICIENT_CREDITS_ERROR", "REJECTED_CONNECTION_ERROR"]

MODERATION_ERROR = "Prompt rejected by content moderation"
INSUFFICIENT_CREDITS_ERROR = "Insufficient credits"
# Deliberately free of the permanent-error words clients match ("401",
# "not allowed", ...), so a client retries it.
REJECTED_CONNECTION_ERROR = "Service unavailable (503): connection rejected by the local server's fault injection"


@dataclass(eq=False)
class Faults:
    #: A prompt containing one of these words (case-insensitive) is rejected
    #: with ``success: false`` and :data:`MODERATION_ERROR`; state unchanged.
    moderation_words: tuple[str, ...] = ("nsfw", "forbidden-word")
    #: Seconds to wait before applying a prompt/image and sending its ack.
    ack_delay: float = 0.0
    #: Apply prompts/images but never send their acks (client timeout tests).
    drop_acks: bool = False
    #: Abruptly close a stream's WebSocket and peer connection N seconds after it went live.
    drop_socket_after_seconds: float | None = None
    #: Abruptly close a stream's WebSocket and peer connection after N processed frames.
    drop_socket_after_frames: int | None = None
    #: Send a server ``error`` with ``error_text`` N seconds after the stream went live.
    error_after_seconds: float | None = None
    error_text: str = "Internal server error (injected by the local server)"
    #: N seconds after the stream went live: ``generation_ended``
    #: (``insufficient_credits``), ``error`` "Insufficient credits", close.
    insufficient_credits_after_seconds: float | None = None
    #: Reject the next N connection attempts (realtime or subscribe) with a
    #: retryable server ``error``, then close. Counts down to 0.
    reject_connections: int = 0
    #: The session waits in a queue first: N ``queue_position`` messages
    #: (position N down to 1, ``queue_size`` N), ``queue_step_ms`` apart, before
    #: the ``livekit_room_info`` (or the legacy ``answer``). Python SDK 0.2.x waits
    #: 15 s for the room info in all; JS pauses its timeout while positions arrive.
    queue_positions: int = 0
    queue_step_ms: int = 500
    #: The server's media never connects, as with UDP blocked: its ICE never
    #: answers (the control socket works). Applies to media negotiated after it is set.
    block_media: bool = False
    #: N seconds after the stream went live the server stops sending output
    #: frames while the socket, acks and ticks go on (a stalled model).
    freeze_output_after_seconds: float | None = None

    _listeners: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):
            for listener in list(getattr(self, "_listeners", ())):
                listener()

    def is_moderated(self, text: str | None) -> bool:
        if not text:
            return False
        lowered = text.lower()
        return any(word and word.lower() in lowered for word in self.moderation_words)

    def take_rejection(self) -> bool:
        """Consume one ``reject_connections`` count; True when this attempt is rejected."""
        if self.reject_connections > 0:
            self.reject_connections -= 1
            return True
        return False

    def reset(self) -> None:
        """Back to no faults at all (the default moderation words stay)."""
        for f in fields(self):
            if f.init:
                setattr(self, f.name, f.default)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None
