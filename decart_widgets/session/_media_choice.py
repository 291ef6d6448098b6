"""Which media link a session uses: ``media="livekit"``, ``"webrtc"`` or
``"auto"`` (LiveKit for Decart's service, where it is production's path;
for the local server, the link bench/README.md measured faster and cheaper),
and what happens where the ``livekit`` client cannot be installed."""

from __future__ import annotations

import importlib
import importlib.resources
import logging
import platform
import warnings

from ..errors import InvalidInputError, MediaUnavailableError
from ._watch import LegacyWatch, RoomWatch

log = logging.getLogger(__name__)

__all__ = ["resolve_media", "livekit_missing", "LOCAL_AUTO", "LiveKitFallbackWarning"]

#: ``media="auto"`` against a loopback (local) server: aiortc, measured faster
#: there (connect in about a quarter of the time, lower latency) at about the
#: same kernel CPU, and it works on a machine whose only interface is loopback
#: (bench/README.md, "Media links").
LOCAL_AUTO = "webrtc"

_HOW_TO_GET = (
    "pip install 'livekit>=1.2' (wheels exist for Linux x86_64/aarch64 with glibc 2.28+ "
    "and macOS arm64); or pass media='webrtc' for the aiortc link"
)


class LiveKitFallbackWarning(UserWarning):
    """``media="auto"`` fell back to the webrtc link: the ``livekit`` client is missing."""


def livekit_missing() -> str | None:
    """Why the ``livekit`` rtc client cannot be used here, or None when it can."""
    try:
        importlib.import_module("livekit.rtc")
    except ImportError as exc:
        return f"the livekit client is not installed ({exc})"
    lib = {"Linux": "liblivekit_ffi.so", "Darwin": "liblivekit_ffi.dylib", "Windows": "livekit_ffi.dll"}.get(platform.system())
    try:
        found = lib is not None and (importlib.resources.files("livekit.rtc.resources") / lib).is_file()
    except (ImportError, OSError):
        found = False
    return None if found else "the livekit client has no native library for this platform"


def resolve_media(media: str, *, loopback: bool, watch: LegacyWatch | RoomWatch | None = None) -> str:
    """``"livekit"`` or ``"webrtc"`` for the requested ``media``."""
    if isinstance(watch, LegacyWatch):
        if media == "livekit":
            raise InvalidInputError("this subscribe token is a legacy-generation one ({sid, ip, port}): it is watched with media='webrtc'")
        return "webrtc"
    if isinstance(watch, RoomWatch) and media == "webrtc":
        raise InvalidInputError("this subscribe token names a LiveKit room: it is watched with media='livekit'")
    wanted = "livekit" if isinstance(watch, RoomWatch) else media
    if wanted == "auto":
        wanted = LOCAL_AUTO if loopback else "livekit"
        if wanted == "livekit":
            why = livekit_missing()
            if why is not None:
                warnings.warn(f"media='auto' uses the webrtc link: {why}", LiveKitFallbackWarning, stacklevel=4)
                return "webrtc"
        return wanted
    if wanted == "livekit":
        why = livekit_missing()
        if why is not None:
            raise MediaUnavailableError(f"media='livekit' needs the livekit client, but {why}: {_HOW_TO_GET}")
    return wanted
