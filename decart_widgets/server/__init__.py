"""The embedded Decart-compatible realtime server (docs/protocol.md, server side).

    from decart_widgets.server import LocalServer

    async with LocalServer() as server:          # on the running loop
        ...  # connect a client to server.url

    with LocalServer().start_background() as server:   # on its own thread
        ...
"""

from ._events import Event
from ._server import LocalServer, serve_forever
from ._stream import StreamInfo
from .faults import Faults
from .model_api import LocalModel, ModelState

__all__ = ["LocalServer", "Faults", "ModelState", "LocalModel", "StreamInfo", "Event", "serve_forever"]
