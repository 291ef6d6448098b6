"""The embedded Decart-compatible realtime server (docs/protocol.md, server side).

It serves both protocol generations on one port: the current one (a LiveKit
room on this server, ``livekit_join``) and the legacy direct WebRTC one
(``offer``/``answer``), each to the official clients of its generation.

    from decart_widgets.server import LocalServer

    async with LocalServer() as server:          # on the running loop
        ...  # connect a client to server.url

    with LocalServer().start_background() as server:   # on its own thread
        ...
"""

from ._event_log import Event
from ._server import LocalServer, serve_forever
from ._stream import StreamInfo
from .faults import Faults
from .model_api import LocalModel, ModelState

__all__ = ["LocalServer", "Faults", "ModelState", "LocalModel", "StreamInfo", "Event", "serve_forever"]
