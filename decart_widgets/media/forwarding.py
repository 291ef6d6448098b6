"""Send encoded frames on as they arrived while nothing needs their pixels,
and switch cleanly to decoding and encoding when something does.

- :class:`EncodedFeed`: one stream's encoded frames (the browser camera, the
  model's output) for consumers that outlive the tap producing them (a
  reconnect makes a new receiver; another view may own the camera). It
  decides whether the tap decodes: while pixels are wanted, or while no
  consumer sends the frames on as packets (then it behaves as stock aiortc).
- :class:`SwitchingTrack`: an aiortc sender's track that sends a feed's
  frames as ``av.Packet`` (packetized, never encoded) while it can, and
  frames to encode otherwise. Frames to packets: the queue waits for a
  keyframe (asking the feed for one) and the switch happens at it. Packets
  to frames: the feed decodes again (from its next keyframe) while packets
  still go out, and the first frame, when it comes, is encoded as a
  keyframe. The timestamps the sender sees stay monotonic across switches
  and producers (:class:`PtsRebaser`); keyframe requests that reach the
  sender while it forwards go to the feed's producer.

Built on :mod:`.encoded`; see docs/architecture.md ("Encoded forwarding").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from . import encoded
from .encoded import VIDEO_TIME_BASE, EncodedFrame, EncodedTap, PacketQueue, frame_packet

log = logging.getLogger(__name__)

__all__ = ["EncodedConsumer", "EncodedFeed", "PtsRebaser", "SwitchingTrack", "FORWARD", "HOLD", "STOP"]

#: Verdicts on one encoded frame: send it on; send it on but make frames
#: ready (pixels are wanted); do not send it (the switch to frames happens now).
FORWARD, HOLD, STOP = "forward", "hold", "stop"
#: Seconds without an encoded frame after which a forwarding track goes
#: back to frames (the producer went away without saying so).
PACKET_SILENCE = 0.5


class EncodedConsumer:
    """What an :class:`EncodedFeed` hands its frames to (on the event loop)."""

    def push(self, frame: EncodedFrame) -> None:
        raise NotImplementedError

    @property
    def using_packets(self) -> bool:
        """True while this consumer sends the frames on instead of their pixels."""
        return False

    def producer_gone(self) -> None:
        """The feed's producer went away (no more frames from that clock)."""


class EncodedFeed:
    """The encoded frames of one stream, from whichever tap produces them now.

    :param pixels_wanted: whether something needs this stream's pixels
        (asked on every frame); the tap then decodes.
    """

    def __init__(self, pixels_wanted: Callable[[], bool] | None = None) -> None:
        self._pixels_wanted = pixels_wanted or (lambda: False)
        self._tap: EncodedTap | None = None
        self._consumers: tuple[EncodedConsumer, ...] = ()
        #: The codec and size (from the last keyframe) of the frames now.
        self.mime_type: str | None = None
        self.size: tuple[int, int] | None = None
        #: Frames that arrived; frames sent on as packets by the consumers.
        self.frames = 0
        self.forwarded = 0

    @property
    def tap(self) -> EncodedTap | None:
        return self._tap

    def attach(self, tap: EncodedTap) -> None:
        """Frames come from ``tap`` now (the previous one is detached)."""
        if tap is self._tap:
            return
        if self._tap is not None:
            self.detach(self._tap)
        self._tap = tap
        self.mime_type = self.size = None
        tap.add_consumer(self._push)
        self.refresh()

    def detach(self, tap: EncodedTap) -> None:
        """``tap`` produces no more (its connection closes, or it lost the camera)."""
        if tap is not self._tap:
            return
        tap.remove_consumer(self._push)
        self._tap = None
        self.mime_type = self.size = None
        for consumer in self._consumers:
            consumer.producer_gone()

    def subscribe(self, consumer: EncodedConsumer) -> None:
        if consumer not in self._consumers:
            self._consumers = (*self._consumers, consumer)

    def unsubscribe(self, consumer: EncodedConsumer) -> None:
        self._consumers = tuple(c for c in self._consumers if c is not consumer)
        self.refresh()

    def decode_wanted(self) -> bool:
        return self._pixels_wanted() or not any(c.using_packets for c in self._consumers)

    def refresh(self) -> None:
        """Tell the tap whether to decode (at once, not at the next frame)."""
        if self._tap is not None:
            self._tap.decode = self.decode_wanted()

    def request_keyframe(self) -> bool:
        """Ask the producer's encoder for a keyframe (rate-limited by the tap)."""
        return self._tap.request_keyframe() if self._tap is not None else False

    def _push(self, frame: EncodedFrame) -> None:
        self.frames += 1
        self.mime_type = frame.mime_type
        if frame.keyframe:
            self.size = frame.size
        for consumer in self._consumers:
            try:
                consumer.push(frame)
            except Exception:  # noqa: BLE001 - one consumer must not stop the others
                log.exception("encoded-frame consumer failed")
        # after the consumers: they may have switched between packets and frames
        if self._tap is not None:
            self._tap.decode = self.decode_wanted()

    def close(self) -> None:
        if self._tap is not None:
            self.detach(self._tap)
        self._consumers = ()


class PtsRebaser:
    """Maps the timestamps of several clocks onto one monotonic 90 kHz clock.

    Each producer counts from its own origin (a new receiver starts near 0;
    the pump counts from its start). When the clock changes, the new one
    continues where the last left off plus the wall time in between, so a
    receiver never sees time go back across a switch or a reconnect.
    """

    def __init__(self) -> None:
        self._clock: object = None
        self._offset = 0
        self._last: int | None = None
        self._last_wall = 0.0

    def map(self, clock: object, pts: int) -> int:
        now = time.monotonic()
        if clock is not self._clock or self._last is None or pts + self._offset <= self._last:
            start = 0 if self._last is None else self._last + max(1, round((now - self._last_wall) * 90_000))
            self._offset = start - pts
            self._clock = clock
        out = pts + self._offset
        self._last, self._last_wall = out, now
        return out


Verdict = Callable[[EncodedFrame], str]


class SwitchingTrack(MediaStreamTrack, EncodedConsumer):
    """A video track for one aiortc sender: its feed's encoded frames as
    packets while it can, frames from ``next_frame`` to encode otherwise.

    :param next_frame: the next frame to encode (awaited only while frames
        are sent, or made ready).
    :param verdict: on each encoded frame: :data:`FORWARD`, :data:`HOLD` or
        :data:`STOP` (the track itself stops at another codec than its
        sender's, and when :data:`encoded.ENABLED` is off).
    :param rebaser: the timestamp mapping (pass one that outlives the track
        to stay monotonic across reconnects).

    Call :meth:`bind` once its sender exists, :meth:`set_feed` to choose the
    encoded frames. Subclasses may override the hooks
    :meth:`_frames_wanted_changed`, :meth:`_leaving_packets` and
    :meth:`_sent_packet`. Everything runs on the feed's event loop.
    """

    kind = "video"

    def __init__(
        self,
        next_frame: Callable[[], Awaitable[av.VideoFrame]],
        *,
        verdict: Verdict | None = None,
        rebaser: PtsRebaser | None = None,
    ) -> None:
        super().__init__()
        self._next_frame = next_frame
        self._verdict = verdict or (lambda frame: FORWARD)
        self._rebaser = rebaser if rebaser is not None else PtsRebaser()
        self._frames_wanted: bool | None = None
        self._frame_clock = object()
        self._queue = PacketQueue(self._request_keyframe)
        self._feed: EncodedFeed | None = None
        self._transceiver: RTCRtpTransceiver | None = None
        self._undo_relay: Callable[[], None] | None = None
        self._packets = False  # sending packets now
        self._leaving = False  # still packets; frames are being made ready
        self._cut = False  # packets must stop now (STOP): wait for the frame
        self._want_packets = False  # (sending frames) the last encoded frame could go on
        self._frame_task: asyncio.Future[av.VideoFrame] | None = None
        self._keyframe_next = False
        self._silent = False
        #: Frames sent as packets / given to the sender's encoder.
        self.forwarded = 0
        self.encoded = 0
        #: Switches between packets and frames.
        self.switches = 0

    # ------------------------------------------------------------- wiring

    @property
    def feed(self) -> EncodedFeed | None:
        return self._feed

    @property
    def using_packets(self) -> bool:
        return self._packets and not self._leaving

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        """The transceiver whose sender sends this track: its codec, and its
        keyframe requests (passed on to the feed while forwarding)."""
        self._transceiver = transceiver
        self._undo_relay = encoded.relay_keyframe_requests(transceiver.sender, self._relay_keyframe_request)

    def set_feed(self, feed: EncodedFeed | None) -> None:
        """Forward ``feed``'s frames from now on (None: frames only)."""
        if feed is self._feed:
            return
        old, self._feed = self._feed, feed
        if old is not None:
            old.unsubscribe(self)
        self._queue.reset()
        self._want_packets = False
        if feed is not None and self.readyState == "live":
            feed.subscribe(self)
        if self._packets:
            self._leave(cut=True)

    def sender_mime_type(self) -> str | None:
        """The codec the sender sends (known once negotiated)."""
        codecs = getattr(self._transceiver, "_codecs", None) if self._transceiver is not None else None
        return codecs[0].mimeType.lower() if codecs else None

    # ------------------------------------------------- encoded frames (push)

    def push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        verdict = self._judge(frame)
        if not self._packets:
            self._want_packets = verdict == FORWARD
            if self._want_packets:
                self._queue.put(frame)  # from a keyframe on; it asks for one meanwhile
            elif len(self._queue):
                self._queue.reset()
            return
        if verdict == STOP:
            self._leave(cut=True)
            return
        if verdict == HOLD and not self._leaving:
            self._leave(cut=False)
        if self._leaving and frame.keyframe:
            # decoding resumes at this keyframe: the frame made of it goes next
            self._leave(cut=True)
        if not self._cut:
            self._queue.put(frame)

    def producer_gone(self) -> None:
        self._queue.reset()
        self._want_packets = False
        if self._packets:
            self._leave(cut=True)

    def _judge(self, frame: EncodedFrame) -> str:
        if not encoded.ENABLED or frame.mime_type.lower() != self.sender_mime_type():
            return STOP
        return self._verdict(frame)

    def _leave(self, *, cut: bool) -> None:
        """Start going back to frames: decoding resumes now; packets go on
        meanwhile unless ``cut``."""
        if not self._leaving:
            self._leaving_packets()
        self._leaving = True
        self._cut = self._cut or cut
        if cut:
            self._queue.reset()
        self._set_frames_wanted(True)
        if self._feed is not None:
            self._feed.refresh()
        self._queue.wake()

    def _request_keyframe(self) -> None:
        if self._feed is not None:
            self._feed.request_keyframe()

    def _relay_keyframe_request(self) -> None:
        if self.using_packets:
            self._request_keyframe()

    # --------------------------------------------------------------- recv

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if self._frames_wanted is None:
            self._set_frames_wanted(True)  # starts with frames until a keyframe can be forwarded
        try:
            while True:
                item = self._ready()
                if item is not None:
                    return item
                await self._wait()
                if self.readyState != "live":
                    raise MediaStreamError
        except asyncio.CancelledError:
            self._drop_frame_task()
            raise

    def _ready(self) -> Any:
        """The next thing to send, if there is one now (switching as needed)."""
        if not self._packets:
            if self._want_packets and len(self._queue):
                self._enter_packets()
            elif self._frame_task is not None and self._frame_task.done():
                return self._frame(self._take_frame())
            else:
                return None
        if self._leaving and self._frame_task is not None and self._frame_task.done():
            self._enter_frames()
            return self._frame(self._take_frame())
        if not self._cut:
            frame = self._queue.pop()
            if frame is not None:
                return self._packet(frame)
        return None

    async def _wait(self) -> None:
        if self.using_packets:
            # the common case, once a frame: wait for the next packet, no task
            self._silent = False
            timer = asyncio.get_running_loop().call_later(PACKET_SILENCE, self._silence)
            try:
                await self._queue.changed()
            finally:
                timer.cancel()
            if self._silent:
                log.debug("no encoded frame for %.1f s: back to frames", PACKET_SILENCE)
                self._leave(cut=True)
            return
        if self._frame_task is None:
            self._frame_task = asyncio.ensure_future(self._next_frame())
        changed: asyncio.Future[Any] = asyncio.ensure_future(self._queue.changed())
        waiting: set[asyncio.Future[Any]] = {changed, self._frame_task}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()

    def _silence(self) -> None:
        self._silent = True
        self._queue.wake()

    def _take_frame(self) -> av.VideoFrame:
        task, self._frame_task = self._frame_task, None
        assert task is not None
        return task.result()  # a source's end (MediaStreamError) ends the track's sender

    def _drop_frame_task(self) -> None:
        task, self._frame_task = self._frame_task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is not None:
            log.debug("a frame not sent failed: %r", task.exception())

    def _enter_packets(self) -> None:
        self._packets, self._leaving, self._cut = True, False, False
        self._drop_frame_task()  # a frame being made is not needed
        self.switches += 1
        self._set_frames_wanted(False)
        if self._feed is not None:
            self._feed.refresh()  # decoding stops

    def _enter_frames(self) -> None:
        self._packets, self._leaving, self._cut = False, False, False
        self._want_packets = False
        self._queue.reset()
        self._keyframe_next = True  # the receiver's decoder last saw someone else's frames
        self.switches += 1

    def _packet(self, frame: EncodedFrame) -> av.Packet:
        self.forwarded += 1
        if self._feed is not None:
            self._feed.forwarded += 1
        self._sent_packet(frame)
        return frame_packet(frame, self._rebaser.map(frame.clock, frame.timestamp))

    def _frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._keyframe_next:
            self._keyframe_next = False
            if self._transceiver is not None:
                self._transceiver.sender._send_keyframe()  # (frames now: not relayed)
        if frame.pts is None or frame.time_base is None:
            pts = round(time.monotonic() * 90_000)
        else:
            pts = round(frame.pts * frame.time_base * 90_000)
        frame.pts = self._rebaser.map(self._frame_clock, pts)
        frame.time_base = VIDEO_TIME_BASE
        self.encoded += 1
        return frame

    def _sent_packet(self, frame: EncodedFrame) -> None:
        """Hook: one encoded frame went out as a packet."""

    def _leaving_packets(self) -> None:
        """Hook: going back to frames; decoding resumes now (frames that
        ``next_frame`` holds from before the packets are stale)."""

    def _frames_wanted_changed(self, on: bool) -> None:
        """Hook: frames from ``next_frame`` are wanted (True: sent, or made
        ready) or not (False: forwarding, or stopped)."""

    def _set_frames_wanted(self, on: bool) -> None:
        if on != self._frames_wanted:
            self._frames_wanted = on
            self._frames_wanted_changed(on)

    # ---------------------------------------------------------------- stop

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._drop_frame_task()
            self._queue.close()
            if self._undo_relay is not None:
                self._undo_relay()
                self._undo_relay = None
            feed, self._feed = self._feed, None
            if feed is not None:
                feed.unsubscribe(self)  # decoding resumes where nobody forwards
            if self._frames_wanted:
                self._set_frames_wanted(False)
