"""What a closed session may not leave behind, counted for both media links:
threads, sockets, aiortc peer connections, LiveKit rooms, streams and native
handles, and the media loop itself."""

from __future__ import annotations

import gc
import os
import threading

#: Threads of the local server under test (a separate owner that outlives the session).
SERVER_THREAD_PREFIXES = ("decart-server", "decart-local-server", "asyncio_")


def thread_names() -> set[str]:
    """Threads Python started. Left out: foreign threads that merely called into
    Python (``Dummy-N``): the livekit client's native runtime delivers its
    events on threads of its own, which live as long as the process."""
    return {t.name for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


def session_threads(before: set[str]) -> set[str]:
    """Threads started since ``before`` that are not the server's."""
    return {n for n in thread_names() - before if not n.startswith(SERVER_THREAD_PREFIXES)}


def socket_count() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(os.path.join("/proc/self/fd", fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def client_pcs() -> list[object]:
    """Open aiortc peer connections of this process."""
    from aiortc import RTCPeerConnection

    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"
            and o.signalingState != "closed"]


def livekit_leftovers() -> list[object]:
    """LiveKit rooms, video streams and sources still alive, and native
    handles not released (none when the livekit client is not installed)."""
    try:
        from livekit import rtc
        from livekit.rtc import _ffi_client
    except ImportError:
        return []
    gc.collect()
    objects = [o for o in gc.get_objects() if isinstance(o, (rtc.Room, rtc.VideoStream, rtc.VideoSource))]
    handles = [h for h in _ffi_client._live_handles if not h.disposed]
    return objects + handles


def media_loop_running() -> bool:
    from decart_widgets.common.media_loop import media_loop

    return media_loop._loop is not None or any(t.name.startswith("decart-media-loop") for t in threading.enumerate())
