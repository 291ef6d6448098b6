"""The "comm" transport: JPEG frames as binary buffers over the widget's comm.

Works wherever the notebook works (Binder, JupyterHub, remote kernels),
since it only needs the Jupyter websocket.

Browser → kernel (camera): a ``cframe`` request + one JPEG buffer. Each is
validated (size cap, JPEG header, dimensions), decoded and pushed to the
:class:`~decart_widgets.media.browser.BrowserCameraSource`, then answered
with a ``reply`` (``ok`` false, with the reason, for a dropped frame); the
browser keeps at most 2 unanswered frames and skips camera frames meanwhile
(newest wins). A malformed or oversized buffer is dropped and counted
(:attr:`JpegCameraReceiver.rejected`), never raised.

Kernel → browser (a stream of frames, the model's output or its input):
every frame (a ``VideoFrame``) replaces the one in a newest-wins slot; one
worker thread per stream JPEG-encodes it straight from its YUV planes (no
RGB conversion) and sends ``{"type": "oframe", "id", "stream", "counter",
"w", "h"}`` + the JPEG. At most 2 frames of a stream are in flight; the
browser acks each with ``{"type": "oack", "id", "stream"}`` once drawn.

A busy kernel: the browser's acks (and camera frames) are comm messages on
the kernel's shell channel, so they wait while a cell runs. Output frames
keep flowing anyway: an unacked frame's credit expires after
:data:`ACK_EXPIRY_S`, so output continues at a reduced rate (about 2 frames
per expiry period) and the camera image the model sees freezes until the
cell finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..common.slot import LatestSlot
from ..media.browser import BrowserCameraSource
from ..media.convert import frame_to_rgb, luma_view
from . import _jpeg

log = logging.getLogger(__name__)

__all__ = ["JpegCameraReceiver", "JpegFrameSender", "MAX_JPEG_BYTES", "MAX_IN_FLIGHT", "ACK_EXPIRY_S"]

#: Largest camera JPEG accepted from the browser (a 1920x1080 frame at
#: quality 0.8 is ~0.5 MB with texture; 4 MB leaves room, and caps abuse).
MAX_JPEG_BYTES = 4 * 1024 * 1024
#: Largest camera frame accepted, in pixels per side.
MAX_SIDE = 4096
#: Output frames sent but not yet acked by the browser.
MAX_IN_FLIGHT = 2
#: Seconds after which an unacked output frame no longer holds its slot.
ACK_EXPIRY_S = 0.25
#: JPEG quality of output frames.
JPEG_QUALITY = 80

Send = Callable[[dict[str, Any], list[bytes]], None]


class JpegCameraReceiver:
    """Validates and decodes camera JPEGs from the browser (called on the
    thread that handles comm messages)."""

    def __init__(self, source: BrowserCameraSource) -> None:
        self._source = source
        #: Camera frames accepted.
        self.received = 0
        #: Buffers dropped as malformed, oversized or undecodable.
        self.rejected = 0
        self.last_reject_reason: str | None = None

    def receive(self, buffers: list[Any]) -> str | None:
        """Decode the frame and push it to the camera source; returns why it
        was dropped, or None."""
        try:
            rgb = self._decode(buffers)
        except ValueError as exc:
            self.rejected += 1
            self.last_reject_reason = str(exc)
            log.debug("camera frame dropped: %s", exc)
            return str(exc)
        self.received += 1
        self._source.push(rgb)
        return None

    @staticmethod
    def _decode(buffers: list[Any]) -> Any:
        if not buffers or len(buffers) != 1:
            raise ValueError(f"expected one JPEG buffer, got {len(buffers) if buffers else 0}")
        buf = buffers[0]
        try:
            data = memoryview(buf).cast("B")
        except TypeError as exc:
            raise ValueError(f"buffer is not bytes-like ({type(buf).__name__})") from exc
        if data.nbytes > MAX_JPEG_BYTES:
            raise ValueError(f"JPEG of {data.nbytes} bytes is over the {MAX_JPEG_BYTES} byte cap")
        if data.nbytes < 4 or bytes(data[:3]) != b"\xff\xd8\xff":
            raise ValueError("buffer is not a JPEG")
        try:
            w, h = _jpeg.header_size(data)
        except Exception as exc:  # noqa: BLE001 - any decoder complaint is a bad buffer
            raise ValueError(f"unreadable JPEG header: {exc}") from exc
        if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
            raise ValueError(f"JPEG of {w}x{h} is outside 16..{MAX_SIDE} pixels per side")
        try:
            return _jpeg.decode_rgb(data)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"undecodable JPEG: {exc}") from exc


class JpegFrameSender:
    """Sends one stream's frames (``"output"`` by default) to the browser as
    JPEGs from one worker thread, newest frame wins, at most
    :data:`MAX_IN_FLIGHT` unacked."""

    def __init__(self, send: Send, *, stream: str = "output", quality: int = JPEG_QUALITY) -> None:
        self._send = send
        self.stream = stream
        self._quality = quality
        self._frames: LatestSlot[tuple[Any, int | None]] = LatestSlot()
        self._credit = threading.Condition()  # guards _in_flight, _closed
        self._in_flight: dict[int, float] = {}
        self._next_id = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        #: Acks received.
        self.acked = 0
        #: In-flight slots freed by expiry instead of an ack.
        self.expired = 0
        #: Output frames sent to the browser.
        self.sent = 0
        self.bytes_sent = 0
        self.encode_ms = 0.0

    @property
    def skipped(self) -> int:
        """Output frames replaced by a newer one before they could be sent."""
        return self._frames.replaced

    def start(self) -> None:
        with self._credit:
            if self._thread is not None or self._closed:
                return
            name = "decart-comm-encoder" if self.stream == "output" else f"decart-comm-encoder-{self.stream}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def offer(self, frame: Any, counter: int | None) -> None:
        """An output subscriber: cheap, never blocks."""
        self._frames.put((frame, counter))

    def ack(self, frame_id: Any) -> None:
        with self._credit:
            if self._in_flight.pop(frame_id, None) is not None:
                self.acked += 1
                self._credit.notify()

    def reset_flow(self) -> None:
        """Forget unacked frames (a view went away or came back)."""
        with self._credit:
            self._in_flight.clear()
            self._credit.notify()

    def _expire(self, now: float) -> float | None:
        """Free slots whose ack is overdue; returns seconds until the next expiry."""
        nxt = None
        for fid, t in list(self._in_flight.items()):
            left = t + ACK_EXPIRY_S - now
            if left <= 0:
                del self._in_flight[fid]
                self.expired += 1
            else:
                nxt = left if nxt is None else min(nxt, left)
        return nxt

    def _wait_for_credit(self) -> bool:
        """Block until fewer than MAX_IN_FLIGHT frames are unacked (only this
        worker adds one, so the credit holds until it sends); False once closed."""
        with self._credit:
            while not self._closed:
                wait = self._expire(time.monotonic())
                if len(self._in_flight) < MAX_IN_FLIGHT:
                    return True
                self._credit.wait(wait)
            return False

    def _run(self) -> None:
        while self._wait_for_credit():
            item = self._frames.take()  # the newest frame, once there is credit for it
            if item is None:
                return  # closed
            frame, counter = item
            with self._credit:
                self._next_id += 1
                frame_id = self._next_id
                self._in_flight[frame_id] = time.monotonic()
            try:
                t0 = time.perf_counter()
                jpeg = encode_frame(frame, self._quality)
                self.encode_ms = (time.perf_counter() - t0) * 1000
                self._send(
                    {"type": "oframe", "id": frame_id, "stream": self.stream, "counter": counter,
                     "w": frame.width, "h": frame.height},
                    [jpeg],
                )
                self.sent += 1
                self.bytes_sent += len(jpeg)
            except Exception:  # noqa: BLE001 - one bad frame must not stop the stream
                log.warning("could not send an output frame", exc_info=True)
                with self._credit:
                    self._in_flight.pop(frame_id, None)

    def close(self) -> None:
        """Stop the encoder thread and join it; idempotent."""
        with self._credit:
            self._closed = True
            self._credit.notify_all()
            thread = self._thread
        self._frames.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
            if thread.is_alive():
                log.warning("comm encoder thread still running 5 s after close")

    def stats(self) -> dict[str, Any]:
        """Counters, named ``comm_*`` for the output stream, ``comm_<stream>_*`` for another."""
        p = "comm_" if self.stream == "output" else f"comm_{self.stream}_"
        return {
            f"{p}frames_sent": self.sent,
            f"{p}frames_skipped": self.skipped,
            f"{p}acks_expired": self.expired,
            f"{p}encode_ms": round(self.encode_ms, 2),
        }


def encode_frame(frame: Any, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG of a decoded video frame; yuv420p is encoded from its planes directly."""
    if frame.format.name in ("yuv420p", "yuvj420p") and luma_view(frame) is not None:
        y, u, v = (
            _plane(p) for p in frame.planes
        )
        return _jpeg.encode_planes(y, u, v, quality)
    return _jpeg.encode_rgb(frame_to_rgb(frame), quality)


def _plane(plane: Any) -> Any:
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
