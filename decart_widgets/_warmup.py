"""One-time work of the first ``connect()`` in a process, done ahead of need.

A notebook user's first session paid for what every later one gets for free:
importing aiortc, PyAV and OpenCV, building the test pattern's texture and
glyphs, the first libvpx encoder and decoder, the first DTLS certificate, the
LiveKit client's native library.
When the package is imported in a Jupyter kernel (or a widget is created),
:data:`warmup` does that on a background thread while the user reads or
types; a ``connect()`` that comes sooner waits only for what it needs (the
pattern is built under a lock; the rest runs side by side).

The thread is owned by :data:`warmup`: :meth:`Warmup.wait` joins it, and it
ends on its own within a second. A failed step is logged and skipped: a
warm-up must never break the package.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["Warmup", "warmup", "in_jupyter_kernel"]

log = logging.getLogger(__name__)

#: The size most sessions use (the default model, lucy-2.1).
WIDTH, HEIGHT = 1280, 720


def _import_media() -> None:
    from . import session  # noqa: F401 - aiortc, PyAV, OpenCV, numpy


def _test_pattern() -> None:
    from .media.sources import TestPatternSource

    TestPatternSource.prepare(WIDTH, HEIGHT)


def _codecs() -> None:
    from fractions import Fraction

    import av
    import numpy as np
    from aiortc.codecs import get_decoder
    from aiortc.codecs.vpx import vp8_depayload
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from .common.bitrate import DEFAULT_UPSTREAM_BITRATE, PinnedVp8Encoder

    frame = av.VideoFrame.from_ndarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8), format="rgb24")
    frame.pts, frame.time_base = 0, Fraction(1, 90000)
    payloads, _ = PinnedVp8Encoder(DEFAULT_UPSTREAM_BITRATE).encode(frame)
    decoder = get_decoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
    decoder.decode(JitterFrame(data=b"".join(vp8_depayload(p) for p in payloads), timestamp=0))


def _livekit() -> None:
    # the rtc client loads its native library on first import (~0.25 s); only
    # where it is installed (media="auto" falls back to aiortc elsewhere)
    from .session._media_choice import livekit_missing

    livekit_missing()  # imports livekit.rtc where it can


def _dtls() -> None:
    from aiortc.rtcdtlstransport import RTCCertificate

    RTCCertificate.generateCertificate()


STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("import", _import_media),
    ("test pattern", _test_pattern),
    ("codecs", _codecs),
    ("dtls", _dtls),
    ("livekit", _livekit),
)


class Warmup:
    """Runs :data:`STEPS` once, on a thread of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Seconds each step took (for benchmarks).
        self.timings: dict[str, float] = {}

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the warm-up (once per process; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="decart-warmup", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the warm-up thread; True when it has finished (or never started)."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        for name, step in STEPS:
            t0 = time.perf_counter()
            try:
                step()
            except Exception:  # noqa: BLE001 - a warm-up must never break the package
                log.warning("warm-up step %r failed (the first connect pays for it instead)", name, exc_info=True)
            self.timings[name] = time.perf_counter() - t0


def in_jupyter_kernel() -> bool:
    """True inside a running IPython kernel (not a plain interpreter, not the
    Jupyter server process, which imports the package for its extension)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython: no warm-up
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


#: The process's warm-up.
warmup = Warmup()
