"""The kernel end of the widget's custom messages: views, camera ownership,
both media transports and reference-image uploads.

Every browser → kernel message is in the catalogue (``_messages.py``) and
has one handler here, registered with ``@handles("type")`` in one table, so
searching for a message's name leads to its handler. Requests are answered
with one ``reply`` each, with the request's id. Messages arrive on the
thread that handles comm messages (the kernel's shell thread); WebRTC work
hops to the media loop. Nothing here ever sends a key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..common.fanout import FanOut
from ..common.forwarding import EncodedFeed
from ..common.media_loop import media_loop
from ..errors import DecartError
from ..images import MAX_IMAGE_BYTES
from ..media.browser import BrowserCameraSource
from . import _messages
from ._comm_transport import JpegCameraReceiver, JpegFrameSender
from ._views import ViewRegistry
from ._webrtc_transport import BrowserPeer, OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["BrowserLink"]

Send = Callable[[dict[str, Any], list[bytes]], None]
#: Sets (bytes) or clears (None) the reference image with its file name;
#: the future ends when it is applied, or fails with the reason.
SetImage = Callable[["bytes | None", str], "concurrent.futures.Future[Any]"]


@dataclass
class Incoming:
    """One message from a view, checked against the catalogue."""

    content: dict[str, Any]
    buffers: list[Any]
    #: The view it came from (None where the message has none).
    view: str | None
    #: For a request: answers it (once).
    reply: Reply | None


class Reply:
    """The answer to one request: ``ok(result)`` or ``fail(error)``, once."""

    def __init__(self, send: Send, rid: int | str) -> None:
        self._send = send
        self._id = rid
        self.sent = False

    def ok(self, result: Any = None) -> None:
        self._answer(_messages.reply(self._id, result=result))

    def fail(self, error: str) -> None:
        self._answer(_messages.reply(self._id, ok=False, error=error))

    def _answer(self, content: dict[str, Any]) -> None:
        if not self.sent:
            self.sent = True
            self._send(content, [])


Handler = Callable[["BrowserLink", Incoming], None]
_HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of browser message ``kind`` (one per catalogue entry)."""
    if kind not in _messages.TO_KERNEL:
        raise ValueError(f"{kind!r} is not in the message catalogue (_messages.TO_KERNEL)")

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


class BrowserLink:
    """Every view of one widget: which owns the camera, their transports, their requests.

    :param send: sends a message to every view.
    :param source: the browser camera source the session reads.
    :param output: the model's output frames; transports subscribe to it.
    :param set_image: applies a reference image the browser uploaded.
    """

    def __init__(
        self,
        send: Send,
        source: BrowserCameraSource,
        output: FanOut[OutputSubscriber],
        *,
        on_transport: Callable[[str | None], None],
        on_camera_error: Callable[[str, str], None],
        on_views: Callable[[int], None],
        on_camera_facing: Callable[[str | None], None],
        set_image: SetImage,
    ) -> None:
        self._send = send
        self._source = source
        self._output = output
        self._on_transport = on_transport
        self._on_camera_error = on_camera_error
        self._on_views = on_views
        self._on_facing = on_camera_facing
        self._set_image = set_image
        self.views = ViewRegistry()
        self.camera_in = JpegCameraReceiver(source)
        self.comm_out = JpegFrameSender(send)
        self._comm_views: set[str] = set()
        self._peers: dict[str, BrowserPeer] = {}
        self._output_feed: EncodedFeed | None = None
        self._closed = False
        #: Test aid: make the kernel's WebRTC end unreachable (candidates
        #: stripped both ways), as when UDP to the kernel is blocked.
        self.block_webrtc = False
        #: Messages dropped: not a dict, unknown type, fields not as the catalogue says, or a handler failed.
        self.malformed_messages = 0

    # --------------------------------------------------------------- dispatch

    def handle(self, content: Any, buffers: list[Any] | None) -> None:
        if self._closed:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        message = _messages.TO_KERNEL.get(kind) if isinstance(kind, str) else None
        if message is None:
            self._malformed(f"unknown message type {kind!r}" if isinstance(content, dict) else "not a dict")
            return
        assert isinstance(content, dict)
        problem = _messages.problem(message, content)
        if problem is not None:
            self._malformed(problem)
            return
        view = content.get("view")
        if isinstance(view, str) and view and (self.views.touch(view) or kind == "hello"):
            self._views_changed()
        rid = _messages.request_id(content) if message.request else None
        reply = Reply(self._send, rid) if rid is not None else None
        try:
            _HANDLERS[message.kind](self, Incoming(content, list(buffers or []), view, reply))
        except Exception as exc:  # noqa: BLE001 - a bad message must never break the widget
            self.malformed_messages += 1
            log.warning("widget message %r failed", kind, exc_info=True)
            if reply is not None:
                reply.fail(f"{kind} failed in the kernel: {type(exc).__name__}: {exc}")

    def _malformed(self, why: str) -> None:
        self.malformed_messages += 1
        log.debug("widget message dropped: %s", why)

    def _views_changed(self) -> None:
        owner = self.views.camera_view
        for view, peer in list(self._peers.items()):
            peer.owns_camera = view == owner
        self._send({"type": "roles", "camera_view": owner}, [])
        self._on_views(len(self.views))
        self._on_transport(self.views.transport_of(owner) if owner else None)

    # ------------------------------------------------------------------ views

    @handles("hello")
    def _hello(self, msg: Incoming) -> None:
        pass  # registered in handle(), which sent the roles

    @handles("ping")
    def _ping(self, msg: Incoming) -> None:
        pass  # handle() noted the view is alive

    @handles("bye")
    def _bye(self, msg: Incoming) -> None:
        assert msg.view is not None
        was_owner = self.views.camera_view == msg.view
        self.views.remove(msg.view)
        self._comm_stop(msg.view)
        self._close_peer(msg.view)
        if was_owner:
            self._source.reset()
        self._views_changed()

    def drop_stale_views(self) -> None:
        owner = self.views.camera_view
        gone = self.views.drop_stale()
        for view in gone:
            self._comm_stop(view)
            self._close_peer(view)
        if owner in gone:
            self._source.reset()
        if gone:
            self._views_changed()

    @handles("transport")
    def _transport(self, msg: Incoming) -> None:
        assert msg.view is not None
        name = msg.content.get("name")
        if name not in ("webrtc", "comm", None):
            self._malformed(f"unknown transport {name!r}")
            return
        self.views.set_transport(msg.view, name)
        if msg.view == self.views.camera_view or len(self.views) <= 1:
            self._on_transport(name)

    # ----------------------------------------------------------------- camera

    @handles("camera_info")
    def _camera_info(self, msg: Incoming) -> None:
        if msg.view == self.views.camera_view:
            facing = msg.content.get("facing")
            self._on_facing(facing if facing in ("user", "environment") else None)

    @handles("camera_error")
    def _camera_error(self, msg: Incoming) -> None:
        self._on_camera_error(str(msg.content.get("name") or "CameraError"), str(msg.content.get("message") or ""))

    @handles("cframe")
    def _camera_frame(self, msg: Incoming) -> None:
        assert msg.reply is not None
        if msg.view not in (None, self.views.camera_view):
            msg.reply.fail("not the camera view")  # its slot is free all the same
            return
        dropped = self.camera_in.receive(msg.buffers)
        if dropped is None:
            msg.reply.ok()
        else:
            msg.reply.fail(dropped)  # answered all the same: the browser's slot is free

    # ---------------------------------------------------------- comm output

    @handles("comm_start")
    def _comm_start(self, msg: Incoming) -> None:
        assert msg.view is not None
        if not self._comm_views:
            self.comm_out.reset_flow()
            self.comm_out.start()
            self._output.subscribe(self.comm_out.offer)
        self._comm_views.add(msg.view)

    @handles("comm_stop")
    def _comm_stop_msg(self, msg: Incoming) -> None:
        assert msg.view is not None
        self._comm_stop(msg.view)

    def _comm_stop(self, view: str) -> None:
        self._comm_views.discard(view)
        if not self._comm_views:
            self._output.unsubscribe(self.comm_out.offer)

    @handles("oack")
    def _output_ack(self, msg: Incoming) -> None:
        self.comm_out.ack(msg.content["id"])

    # ---------------------------------------------------------------- webrtc

    @handles("rtc_offer")
    def _rtc_offer(self, msg: Incoming) -> None:
        reply, view, sdp = msg.reply, msg.view, msg.content["sdp"]
        assert reply is not None and view is not None
        if len(sdp) > 200_000:
            reply.fail("bad offer: SDP over 200 kB")
            return
        self._close_peer(view)
        blocked = self.block_webrtc

        async def answer() -> str:
            peer = BrowserPeer(view, self._source, self._output, self._peer_state,
                               owns_camera=view == self.views.camera_view, output_feed=self._output_feed)
            self._peers[view] = peer
            return await peer.answer(sdp, blocked=blocked)

        def done(f: concurrent.futures.Future[str]) -> None:
            exc = f.exception()
            if exc is None:
                reply.ok({"sdp": f.result()})
            else:  # the browser falls back to the comm transport
                log.info("WebRTC offer of view %s failed: %s: %s", view, type(exc).__name__, exc)
                reply.fail(str(exc))

        media_loop.submit(answer()).add_done_callback(done)

    def set_output_feed(self, feed: EncodedFeed | None) -> None:
        """The live session's encoded output, forwarded to every WebRTC view
        (None: no session). On the media loop."""
        self._output_feed = feed
        for peer in list(self._peers.values()):
            peer.set_output_feed(feed)

    def _peer_state(self, peer: BrowserPeer, state: str) -> None:
        if state in ("failed", "closed") and self._peers.get(peer.view) is peer:
            del self._peers[peer.view]
            media_loop.spawn(peer.close(), f"closing the peer connection of view {peer.view}")

    @handles("rtc_close")
    def _rtc_close(self, msg: Incoming) -> None:
        assert msg.view is not None
        self._close_peer(msg.view)

    def _close_peer(self, view: str) -> None:
        peer = self._peers.pop(view, None)
        if peer is not None:
            media_loop.spawn(peer.close(), f"closing the peer connection of view {view}")

    # ----------------------------------------------------------------- image

    @handles("image")
    def _image(self, msg: Incoming) -> None:
        assert msg.reply is not None
        if len(msg.buffers) != 1:
            msg.reply.fail("expected one image buffer")
            return
        data = bytes(memoryview(msg.buffers[0]).cast("B"))
        if len(data) > MAX_IMAGE_BYTES:
            msg.reply.fail(f"image is {len(data) / 1e6:.1f} MB; the limit is {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
            return
        name = str(msg.content.get("name") or "image")[:200]
        self._apply_image(data, name, msg.reply)

    @handles("image_clear")
    def _image_clear(self, msg: Incoming) -> None:
        assert msg.reply is not None
        self._apply_image(None, "", msg.reply)

    def _apply_image(self, data: bytes | None, name: str, reply: Reply) -> None:
        def done(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception()
            if exc is None:
                reply.ok()
            else:
                reply.fail(exc.message if isinstance(exc, DecartError) else str(exc))

        self._set_image(data, name).add_done_callback(done)

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self._source.stats(), **self.comm_out.stats(),
                               "camera_frames_rejected": self.camera_in.rejected,
                               "views": len(self.views)}
        for peer in list(self._peers.values()):
            if peer.owns_camera or len(self._peers) == 1:
                out.update(peer.stats())
        return out

    # ----------------------------------------------------------------- close

    async def aclose(self) -> None:
        """Close peer connections and the encoder thread (on the media loop). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._output.unsubscribe(self.comm_out.offer)
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            try:
                await peer.close()
            except Exception:  # noqa: BLE001 - closing the rest regardless
                log.warning("closing the peer connection of view %s failed", peer.view, exc_info=True)
        await asyncio.to_thread(self.comm_out.close)  # joins the encoder thread


def _check_catalogue() -> None:
    missing = set(_messages.TO_KERNEL) - set(_HANDLERS)
    if missing:
        raise RuntimeError(f"browser messages without a handler: {sorted(missing)}")


_check_catalogue()
