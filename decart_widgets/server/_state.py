"""The state of one running local server, shared by :class:`LocalServer`
(its owner, which starts and stops it) and the request handlers (which read
and change it). Both import this module; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiortc import RTCPeerConnection

from ._auth import KeyRing
from ._blackhole import Blackhole
from ._event_log import EventLog
from ._room_tokens import RoomTokens
from .faults import Faults
from .model_api import LocalModel

if TYPE_CHECKING:
    from ._rooms import Rooms
    from ._stream import Stream

__all__ = ["ServerState"]


@dataclass(eq=False)
class ServerState:
    host: str
    loopback: bool
    model: LocalModel
    #: the model promises never to write into its input (see FrameProcessor)
    trusted_identity: bool
    keys: KeyRing
    #: the server's current :class:`Faults` (``LocalServer.faults`` may replace it)
    get_faults: Callable[[], Faults]
    tick_interval: float
    events: EventLog = field(default_factory=EventLog)
    #: live realtime streams by session id
    streams: dict[str, Stream] = field(default_factory=dict)
    #: every live server peer connection, both generations (tests count them)
    peer_connections: set[RTCPeerConnection] = field(default_factory=set)
    connections_total: int = 0
    #: the bound port, once listening
    port: int = 0
    room_tokens: RoomTokens = field(default_factory=RoomTokens)
    #: where ICE goes when ``Faults.block_media`` is set (opened on first use)
    blackhole: Blackhole = field(default_factory=Blackhole)
    rooms: Rooms = field(init=False)

    def __post_init__(self) -> None:
        from ._rooms import Rooms

        self.rooms = Rooms()

    @property
    def faults(self) -> Faults:
        return self.get_faults()

    @property
    def url(self) -> str:
        """``ws://host:port`` (the realtime base URL)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"
