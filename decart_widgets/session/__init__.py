"""``RealtimeSession``: a live connection to a realtime model, its state
machine and reconnects (docs/protocol.md section 5), prompt/image updates,
events and frame access, over either media link (LiveKit or aiortc).

The package is split along its seams; :class:`RealtimeSession` is the one
public class (see :mod:`._session` for the map of the modules).
"""

# aiortc whole, before any module of ours imports one of its submodules: a
# submodule imported first takes its own import lock before the package's, and
# with another thread importing the package (the kernel warm-up, a cell) the
# two can deadlock into a half-initialised aiortc.
import aiortc  # noqa: F401, I001

from ._session import DEFAULT_BASE_URL, EVENTS, RealtimeSession
from ._types import MEDIA_LINKS, ConnectionState
from ._watch import LegacyWatch, RoomWatch, decode_subscribe_token

__all__ = [
    "RealtimeSession",
    "ConnectionState",
    "DEFAULT_BASE_URL",
    "EVENTS",
    "MEDIA_LINKS",
    "decode_subscribe_token",
    "LegacyWatch",
    "RoomWatch",
]
