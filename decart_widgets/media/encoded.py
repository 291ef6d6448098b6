"""Forward encoded video from one aiortc peer connection to another, without
decoding and encoding it again.

The kernel relays video both ways (the browser's camera to the model server,
the model's output back to the browser). Decoding and re-encoding each frame
costs a VP8 encode (5-6 ms of CPU at 720p) per hop and per frame, which is
most of the kernel's CPU. When nothing in the kernel needs a frame's pixels
the encoded frame can travel on as it arrived:

- :class:`EncodedTap` sits where an aiortc receiver hands complete encoded
  frames to its decoder thread. It passes each frame to its forwarding
  consumers, and to the decoder only while pixels are wanted
  (:attr:`EncodedTap.decode`); decoding (re)starts at a keyframe, so the
  receiver's track never yields a corrupt picture.
- :class:`PacketQueue` keeps one consumer's frames in order (deltas refer to
  earlier frames): it starts at a keyframe and, when its consumer falls
  behind, drops to the next keyframe instead of queueing without bound.
- :class:`ForwardTrack` is a track whose ``recv()`` returns ``av.Packet``:
  aiortc's sender packetizes a packet instead of encoding it.
- :func:`relay_keyframe_requests`: a keyframe request (PLI/FIR) that reaches a
  forwarding sender is passed upstream to the encoder that made the frames,
  at most one per :data:`KEYFRAME_REQUEST_INTERVAL`, so a burst of loss does
  not become a storm of keyframes (the costliest frames to encode and send).

:mod:`.forwarding` builds on these: a feed that outlives its taps and a
track that switches between forwarding and encoding. :data:`ENABLED`
switches forwarding off (``DECART_WIDGETS_FORWARD=0``).

This reaches into two private attributes of aiortc 1.x (the receiver's
decoder queue and the sender's keyframe hook); the tests of this module fail
first if a new aiortc moves them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import queue
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

__all__ = [
    "ENABLED",
    "EncodedFrame",
    "EncodedTap",
    "ForwardTrack",
    "KEYFRAME_REQUEST_INTERVAL",
    "PacketQueue",
    "is_keyframe",
    "relay_keyframe_requests",
    "vp8_keyframe_size",
]

log = logging.getLogger(__name__)

#: Module switch: forward encoded frames where nothing needs their pixels.
#: Off, every frame is decoded and encoded again (for A/B benchmarks, and an
#: escape hatch); ``DECART_WIDGETS_FORWARD=0`` in the environment sets it off.
ENABLED = os.environ.get("DECART_WIDGETS_FORWARD", "1").strip().lower() not in ("0", "false", "no", "off")

#: Seconds between two keyframe requests passed upstream.
KEYFRAME_REQUEST_INTERVAL = 0.5
#: Encoded frames a forwarding consumer may fall behind before it skips to
#: the next keyframe (about 0.25 s at 30 fps).
MAX_BACKLOG = 8
#: RTP clock of video (RFC 3551).
VIDEO_TIME_BASE = Fraction(1, 90000)


class EncodedFrame:
    """One complete encoded video frame as the receiver assembled it."""

    __slots__ = ("mime_type", "data", "timestamp", "keyframe", "clock")

    def __init__(self, mime_type: str, data: bytes, timestamp: int, clock: object = None) -> None:
        #: e.g. ``video/VP8``
        self.mime_type = mime_type
        self.data = data
        #: RTP timestamp (90 kHz), rebased by the receiver to start near 0.
        self.timestamp = timestamp
        self.keyframe = is_keyframe(mime_type, data)
        #: What the timestamp counts from (the tap that assembled it: each
        #: receiver starts its own count).
        self.clock = clock

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` of a VP8 keyframe; None for other frames."""
        if not self.keyframe or self.mime_type.lower() != "video/vp8":
            return None
        return vp8_keyframe_size(self.data)


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """True when ``data`` (a depacketized frame) can be decoded on its own."""
    if not data:
        return False
    name = mime_type.lower()
    if name == "video/vp8":
        return data[0] & 0x01 == 0  # frame tag: P bit 0 = key frame (RFC 6386 9.1)
    if name == "video/h264":
        # Annex B: a keyframe carries an IDR slice (type 5) or parameter sets
        return any(t in (5, 7) for t in _h264_nal_types(data))
    return False


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """The picture size in a VP8 keyframe's header (RFC 6386 9.1: a 3-byte
    frame tag, the start code 9d 01 2a, then 14-bit width and height each
    with 2 bits of upscaling); None when ``data`` is not a VP8 keyframe or
    asks the decoder to upscale (its size is then not the picture's)."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if width >> 14 or height >> 14:
        return None
    return width, height


def _h264_nal_types(data: bytes) -> list[int]:
    types, i = [], data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


Consumer = Callable[[EncodedFrame], None]


class _DecoderFeed(queue.Queue):
    """Stands in for the receiver's decoder queue: aiortc puts every
    assembled frame here (on the event loop) and its decoder thread gets
    them; the tap decides what goes through."""

    def __init__(self, tap: EncodedTap) -> None:
        super().__init__()
        self._tap = tap

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None and not self._tap._accept(*item):
            return
        super().put(item, block, timeout)


class KeyframeGate:
    """Frames from a keyframe on: a decoder, or a stream forwarded to one,
    that starts or resumes mid-stream cannot use the frames before it. Each
    frame refused asks for a keyframe (``on_need_keyframe``)."""

    def __init__(self, on_need_keyframe: Callable[[], Any], synced: bool) -> None:
        self._on_need_keyframe = on_need_keyframe
        self._synced = synced

    def admit(self, frame: EncodedFrame) -> bool:
        if not self._synced:
            if not frame.keyframe:
                self._on_need_keyframe()
                return False
            self._synced = True
        return True

    def reset(self) -> None:
        """Refuse frames again until the next keyframe."""
        self._synced = False


class EncodedTap:
    """The encoded frames of one aiortc video receiver.

    Install it before the receiver starts (right after the transceiver is
    created, or in the peer connection's ``track`` handler). ``decode``
    starts True (the receiver behaves as stock aiortc); set it False to stop
    decoding while frames are only forwarded.
    """

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
            raise RuntimeError("EncodedTap must be installed before the receiver starts decoding")
        self._receiver = receiver
        self._consumers: list[Consumer] = []
        self._decode = True
        self._decoder_gate = KeyframeGate(self.request_keyframe, synced=True)
        self._at_keyframe = False
        self._last_request = 0.0
        self._ssrc: int | None = None
        #: Frames assembled / handed to the decoder / kept from it.
        self.frames = 0
        self.decoded = 0
        self.skipped_decodes = 0
        receiver._RTCRtpReceiver__decoder_queue = _DecoderFeed(self)  # type: ignore[attr-defined]
        self._original_add = receiver._handle_rtp_packet

        async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
            self._ssrc = packet.ssrc
            await self._original_add(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]

    @property
    def decode(self) -> bool:
        """Whether frames go to the decoder (the receiver's track yields pixels)."""
        return self._decode

    @decode.setter
    def decode(self, on: bool) -> None:
        if on and not self._decode:
            self._decoder_gate.reset()  # resume at a keyframe
            if not self._at_keyframe:  # (turned on by a consumer of a keyframe: decoded from it)
                self.request_keyframe()
        self._decode = bool(on)

    def add_consumer(self, consumer: Consumer) -> None:
        """Call ``consumer(frame)`` with every encoded frame, on the event loop."""
        self._consumers.append(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def request_keyframe(self) -> bool:
        """Ask the remote encoder for a keyframe (RTCP PLI), at most one per
        :data:`KEYFRAME_REQUEST_INTERVAL`; True when one was sent."""
        now = time.monotonic()
        if self._ssrc is None or now - self._last_request < KEYFRAME_REQUEST_INTERVAL:
            return False
        self._last_request = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        loop.create_task(self._receiver._send_rtcp_pli(self._ssrc))
        return True

    def _accept(self, codec: Any, jitter_frame: Any) -> bool:
        """Called by aiortc for each assembled frame; True lets it reach the decoder."""
        self.frames += 1
        frame = EncodedFrame(codec.mimeType, jitter_frame.data, jitter_frame.timestamp, self)
        self._at_keyframe = frame.keyframe
        try:
            for consumer in list(self._consumers):
                try:
                    consumer(frame)
                except Exception:  # a consumer must not stop the receiver
                    log.exception("encoded-frame consumer failed")
        finally:
            self._at_keyframe = False
        if not self._decode:
            self.skipped_decodes += 1
            return False
        if not self._decoder_gate.admit(frame):
            self.skipped_decodes += 1
            return False
        self.decoded += 1
        return True


class PacketQueue:
    """One forwarding consumer's encoded frames, in order.

    It starts at a keyframe (earlier frames are dropped and a keyframe is
    asked for with ``on_need_keyframe``); more than :data:`MAX_BACKLOG`
    frames behind, or on :meth:`resync`, it drops what it holds and waits
    for the next keyframe. Used on the event loop only.
    """

    def __init__(self, on_need_keyframe: Callable[[], Any] | None = None) -> None:
        self._on_need_keyframe = on_need_keyframe
        self._items: collections.deque[EncodedFrame] = collections.deque()
        self._gate = KeyframeGate(self._need_keyframe, synced=False)
        self._closed = False
        self._changed = asyncio.Event()
        #: Frames dropped: before a keyframe, or cut from a backlog.
        self.dropped = 0

    def put(self, frame: EncodedFrame) -> bool:
        """Queue ``frame`` (True), or drop it while waiting for a keyframe."""
        if self._closed:
            return False
        if len(self._items) >= MAX_BACKLOG:
            self.resync()
        if not self._gate.admit(frame):
            self.dropped += 1
            return False
        self._items.append(frame)
        self._changed.set()
        return True

    def pop(self) -> EncodedFrame | None:
        return self._items.popleft() if self._items else None

    def reset(self) -> None:
        """Drop what is queued; the next frame queued is a keyframe."""
        self.dropped += len(self._items)
        self._items.clear()
        self._gate.reset()

    def resync(self) -> None:
        """Start again at the next keyframe, and ask for one."""
        self.reset()
        self._need_keyframe()

    def wake(self) -> None:
        """Wake a :meth:`changed` waiter (the consumer has something to look at)."""
        self._changed.set()

    async def changed(self) -> None:
        """Return once a frame was queued (or :meth:`wake`, :meth:`close`) since the last call."""
        await self._changed.wait()
        self._changed.clear()

    async def get(self) -> EncodedFrame | None:
        """The next frame, waiting for one; None once closed."""
        while not self._items:
            if self._closed:
                return None
            await self.changed()
        return self._items.popleft()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._changed.set()

    def qsize(self) -> int:
        return len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _need_keyframe(self) -> None:
        if self._on_need_keyframe is not None:
            self._on_need_keyframe()


def frame_packet(frame: EncodedFrame, pts: int) -> av.Packet:
    """An ``av.Packet`` of ``frame`` at ``pts`` (90 kHz) for an aiortc sender to packetize."""
    packet = av.Packet(frame.data)
    packet.pts = pts
    packet.time_base = VIDEO_TIME_BASE
    return packet


class ForwardTrack(MediaStreamTrack):
    """A video track of ``av.Packet`` made from another receiver's encoded
    frames; an aiortc sender sends them without encoding.

    Feed it with :meth:`push` (an :class:`EncodedTap` consumer). It starts
    at a keyframe and, after falling :data:`MAX_BACKLOG` frames behind or on
    :meth:`resync`, skips to the next one; ``on_need_keyframe`` is called when
    it waits for one (wire it to the upstream tap's ``request_keyframe``).
    """

    kind = "video"

    def __init__(self, mime_type: str, *, on_need_keyframe: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.mime_type = mime_type.lower()
        self._queue = PacketQueue(on_need_keyframe)
        self._mismatched = 0
        #: Frames sent on.
        self.forwarded = 0

    @property
    def dropped(self) -> int:
        """Frames dropped while waiting for a keyframe, or of another codec."""
        return self._queue.dropped + self._mismatched

    def push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if frame.mime_type.lower() != self.mime_type:
            self._mismatched += 1
            return
        self._queue.put(frame)

    def resync(self) -> None:
        """Start again at the next keyframe (e.g. the receiving decoder lost sync)."""
        self._queue.resync()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        self.forwarded += 1
        return frame_packet(frame, frame.timestamp)

    def stop(self) -> None:
        self._queue.close()
        super().stop()


def relay_keyframe_requests(sender: RTCRtpSender, request: Callable[[], Any]) -> Callable[[], None]:
    """Also call ``request()`` whenever ``sender`` is asked for a keyframe
    (PLI or FIR from its receiver). Returns a function that undoes it."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        request()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]

    def undo() -> None:
        sender._send_keyframe = original  # type: ignore[method-assign]

    return undo
