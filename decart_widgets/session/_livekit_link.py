"""The current generation's media link: ``livekit_join`` → (``queue_position``
…) → ``livekit_room_info`` on the control socket, then a LiveKit room joined
with the PyPI ``livekit`` rtc client (docs/protocol.md, "LiveKit
generation"). Codec and packet work run in the client's native code, off
the interpreter.

In the room the session publishes one camera track (H264 by default, as the
official SDKs; VP8/VP9 on request) fed with the pump's I420 frames, and
takes video only from participants whose identity starts with
``inference-server-``. A viewer joins with a subscribe-only token from
``watch-stream`` instead and publishes nothing.

The rtc client's ``Room.connect`` cannot be cancelled: cancelling the
coroutine would leave the native connect running with nobody to close the
room it makes, and a connect whose ICE never answers runs for 15 s a try.
So the connect runs as a task the link owns; a link closed while it still
runs hands it to :func:`_reap`, which keeps the media loop alive until the
connect ends and disconnects the room if it connected after all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livekit import rtc

from .. import protocol as P
from ..errors import DecartTimeoutError, SignalingError
from ..media.track import FramePump
from ..signaling import SignalingChannel
from ._link import LinkPeers, LinkSettings, MediaLink
from ._livekit_frames import from_livekit, sample_room_stats, to_livekit
from ._stats import TransportSample
from ._types import SessionInfo

log = logging.getLogger(__name__)


class _V1Fallback(logging.Filter):
    """The rtc client tries LiveKit's ``/rtc/v1`` first and warns when a server
    (the local one) answers 404 there and it falls back to ``/rtc``: expected,
    so those two lines go to DEBUG instead of every connect's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "v1 path" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("livekit").addFilter(_V1Fallback())

__all__ = ["LiveKitLink", "INFERENCE_PREFIX"]

#: The model's participant in the room.
INFERENCE_PREFIX = "inference-server-"
_CODECS = {"h264": rtc.VideoCodec.H264, "vp8": rtc.VideoCodec.VP8, "vp9": rtc.VideoCodec.VP9}
#: Received frames buffered per stream; older ones are dropped, never queued up.
_RECEIVE_CAPACITY = 2
#: How long an abandoned native room connect may take: its ICE wait (15 s)
#: for each of its 4 tries, with a margin.
_REAP_WITHIN = 90.0

RoomSource = Callable[[], Awaitable[P.LiveKitRoomInfo]]


class LiveKitLink(MediaLink):
    kind = "livekit"
    passthrough_without_state = True

    def __init__(
        self,
        settings: LinkSettings,
        peers: LinkPeers,
        channel: SignalingChannel | None,
        *,
        room_source: RoomSource | None = None,
    ) -> None:
        super().__init__(settings, peers, channel)
        if channel is None and room_source is None:
            raise ValueError("a LiveKit link needs a control socket or a room source (watch-stream)")
        self._room_source = room_source
        loop = self.lost.get_loop()
        self._room_info: asyncio.Future[P.LiveKitRoomInfo] = loop.create_future()
        self._info: P.LiveKitRoomInfo | None = None
        self._queued = asyncio.Event()
        self.room: rtc.Room | None = None
        self._connect: asyncio.Task[None] | None = None
        self._source: rtc.VideoSource | None = None
        #: track sid → (its video stream, the task reading it)
        self._streams: dict[str, tuple[rtc.VideoStream, asyncio.Task[None]]] = {}
        self._closed = False
        self._closing: asyncio.Future[None] | None = None

    # -- join: the room's address ------------------------------------------

    async def join(self) -> None:
        if self._room_source is not None:
            info = await self._room_source()
        else:
            assert self.channel is not None
            await self.channel.send(P.LiveKitJoin())
            info = await self._wait_room_info()
        self._info = info
        self.peers.report("session_info", SessionInfo(info.session_id, {"room_name": info.room_name}))

    async def _wait_room_info(self) -> P.LiveKitRoomInfo:
        """The room info; each ``queue_position`` restarts the wait (a queue may be long)."""
        limit = self.settings.timeouts.room_info
        while True:
            self._queued.clear()
            queued = asyncio.ensure_future(self._queued.wait())
            either: set[asyncio.Future[Any]] = {self._room_info, queued}
            try:
                await asyncio.wait(either, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
            finally:
                queued.cancel()
            if self._room_info.done():
                return self._room_info.result()
            if not self._queued.is_set():
                raise DecartTimeoutError(f"no livekit_room_info within {limit:g} s of joining", phase="room_info")

    def handle(self, msg: P.Message) -> bool:
        if isinstance(msg, P.LiveKitRoomInfo):
            if not self._room_info.done():
                self._room_info.set_result(msg)
        elif isinstance(msg, P.QueuePosition):
            self._queued.set()
            return False  # the attempt reports it (both generations may queue)
        elif isinstance(msg, (P.SessionId, P.Ready)):
            log.debug("ignoring legacy %s in the LiveKit generation", msg.type)
        else:
            return False
        return True

    # -- start: the room ---------------------------------------------------

    async def start(self) -> None:
        info = self._info
        assert info is not None, "join() first"
        room = rtc.Room(loop=asyncio.get_running_loop())
        self.room = room
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_unsubscribed", self._on_track_unsubscribed)
        room.on("disconnected", self._on_disconnected)
        options = rtc.RoomOptions(auto_subscribe=True, dynacast=False)
        self._connect = asyncio.get_running_loop().create_task(
            room.connect(info.livekit_url, info.token, options), name="decart-livekit-connect"
        )
        # shielded: a cancelled start (timeout, disconnect) leaves the connect to close()
        await asyncio.shield(self._connect)
        upstream = self.peers.upstream
        if upstream is not None:
            await self._publish(room, upstream)

    async def _publish(self, room: rtc.Room, pump: FramePump) -> None:
        width, height = pump.size
        source = rtc.VideoSource(width, height)
        self._source = source
        track = rtc.LocalVideoTrack.create_video_track("decart-widgets", source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            video_codec=_CODECS[self.settings.codec or "h264"],
            # one layer: the model takes the full one, and each extra layer is an
            # encode in this process (bench/README.md)
            simulcast=False,
        )
        if self.settings.bitrate is not None:
            options.video_encoding.max_bitrate = self.settings.bitrate
            options.video_encoding.max_framerate = pump.fps
        await room.local_participant.publish_track(track, options)
        self.spawn(self._pump_frames(source, pump), "decart-livekit-publish")

    async def _pump_frames(self, source: rtc.VideoSource, pump: FramePump) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while not self._closed:
                frame, t = await pump.next_i420()
                source.capture_frame(to_livekit(frame), timestamp_us=int(t * 1_000_000))
        except MediaStreamError:
            pass  # the pump stopped with its session

    # -- room events -------------------------------------------------------

    def _on_track_subscribed(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        if not participant.identity.startswith(INFERENCE_PREFIX) or track.kind != rtc.TrackKind.KIND_VIDEO:
            return
        self._drop_stream(track.sid)
        stream = rtc.VideoStream(track, loop=asyncio.get_running_loop(), capacity=_RECEIVE_CAPACITY, format=rtc.VideoBufferType.I420)
        reader = self.spawn(self._receive(stream), f"decart-livekit-receive-{track.sid}")
        self._streams[track.sid] = (stream, reader)

    def _on_track_unsubscribed(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        self._drop_stream(track.sid)

    def _drop_stream(self, sid: str) -> None:
        entry = self._streams.pop(sid, None)
        if entry is not None:
            stream, reader = entry
            reader.cancel()  # a closed stream does not end a pending read: cancel it first
            self.spawn(stream.aclose(), "decart-livekit-stream-close")

    async def _receive(self, stream: rtc.VideoStream) -> None:
        deliver = self.peers.deliver
        async for event in stream:
            deliver(from_livekit(event.frame, event.timestamp_us))

    def _on_disconnected(self, reason: Any = None) -> None:
        if self._closed:
            return
        try:
            name = rtc.DisconnectReason.Name(reason)
        except (ValueError, TypeError):
            name = str(reason)
        self.mark_lost(SignalingError(f"the LiveKit room closed ({name})"))

    # -- stats and close ---------------------------------------------------

    async def sample(self) -> TransportSample | None:
        room = self.room
        if room is None or not room.isconnected():
            return None
        return sample_room_stats(await room.get_rtc_stats())

    async def close(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        self._closed = True
        self.mark_lost(None)
        connect, room = self._connect, self.room
        if connect is not None and not connect.done() and room is not None:
            _reap(connect, room)
            self.room = None
        elif connect is not None and connect.done() and not connect.cancelled() and connect.exception() is not None:
            log.info("LiveKit room connect failed: %s", connect.exception())
        # streams first (their native side stops queueing frames), then the
        # readers, which a closed stream does not wake
        streams, self._streams = list(self._streams.values()), {}
        for stream, _ in streams:
            await stream.aclose()
        await self.cancel_tasks()
        room, self.room = self.room, None
        if room is not None:
            try:
                await asyncio.wait_for(room.disconnect(), 5)
                # a room the server already ended returns from disconnect() at
                # once, its event listener still draining: wait for it too
                listener = getattr(room, "_task", None)
                if isinstance(listener, asyncio.Future) and not listener.done():
                    await asyncio.wait_for(asyncio.shield(listener), 5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - closing regardless; say so
                log.warning("LiveKit room disconnect did not finish cleanly", exc_info=True)
            room.off("track_subscribed", self._on_track_subscribed)
            room.off("track_unsubscribed", self._on_track_unsubscribed)
            room.off("disconnected", self._on_disconnected)
        source, self._source = self._source, None
        if source is not None:
            await source.aclose()


_reaping: set[asyncio.Task[None]] = set()


def _reap(connect: asyncio.Task[None], room: rtc.Room) -> None:
    """Own a room connect its link no longer wants, until it ends; holds a
    media loop reference meanwhile, so the loop outlives it."""
    from ..common.media_loop import media_loop

    media_loop.acquire()

    async def reap() -> None:
        try:
            done, _ = await asyncio.wait({connect}, timeout=_REAP_WITHIN)
            if not done:
                log.warning("an abandoned LiveKit room connect still runs after %g s; leaving it", _REAP_WITHIN)
                connect.cancel()
            elif not connect.cancelled() and connect.exception() is None:
                await asyncio.wait_for(room.disconnect(), 5)  # it connected after all: leave at once
        except Exception:  # noqa: BLE001 - a reaper must end, and say why
            log.warning("closing an abandoned LiveKit room failed", exc_info=True)
        finally:
            media_loop.release()

    task = asyncio.get_running_loop().create_task(reap(), name="decart-livekit-reap")
    _reaping.add(task)
    task.add_done_callback(_reaping.discard)
