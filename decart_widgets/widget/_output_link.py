"""The kernel end of a widget's browser views: which views are alive, and
the frames each one shows, over either transport (comm or WebRTC).

Both widgets use it: ``DecartView`` as it is, ``DecartLive`` through
:class:`~decart_widgets.widget._browser_link.BrowserLink`, which adds the
camera and the reference image. A widget shows one or two *streams* of
frames (``"output"``, and ``"input"`` for a view that shows what the model
is sent), each a :class:`~decart_widgets.common.fanout.FanOut` the
transports subscribe to while a view wants it. A WebRTC view's ``"output"``
stream forwards the session's encoded output instead while it can
(:meth:`OutputLink.set_output_feed`), and then takes no decoded frames.

Every browser → kernel message is in the catalogue (``_messages.py``); a
link class answers those in its own table, filled by
``@handles(table, "type")``, so searching for a message's name leads to its
handler. A catalogued message this link does not answer (a camera frame
sent to a view-only widget) is counted and dropped, and refused when it is a
request. Requests are answered with one ``reply`` each, with the request's
id. Messages arrive on the thread that handles comm messages (the kernel's
shell thread); WebRTC work hops to the media loop. Nothing here ever sends a
key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..common.fanout import FanOut
from ..common.media_loop import media_loop
from ..media.forwarding import EncodedFeed
from . import _messages
from ._comm_transport import JpegFrameSender
from ._views import ViewRegistry
from ._webrtc_transport import BrowserPeer, OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["OutputLink", "Incoming", "Reply", "Handler", "handles", "OUTPUT_HANDLERS", "Send"]

Send = Callable[[dict[str, Any], list[bytes]], None]


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


Handler = Callable[[Any, Incoming], None]


def handles(table: dict[str, Handler], kind: str) -> Callable[[Handler], Handler]:
    """Register in ``table`` the handler of browser message ``kind`` (a catalogue entry)."""
    if kind not in _messages.TO_KERNEL:
        raise ValueError(f"{kind!r} is not in the message catalogue (_messages.TO_KERNEL)")

    def register(fn: Handler) -> Handler:
        table[kind] = fn
        return fn

    return register


#: The messages every widget answers: views, the comm and WebRTC transports.
OUTPUT_HANDLERS: dict[str, Handler] = {}


class OutputLink:
    """Every view of one widget: their transports and the streams they show.

    :param send: sends a message to every view.
    :param streams: the widget's streams of frames (``"output"``, maybe
        ``"input"``); transports subscribe to them.
    :param on_transport: the transport of the primary view (the oldest) changed.
    :param on_views: how many views are alive, when that changes.
    :param output_feed: the session's encoded output (``session.encoded_output``)
        for the WebRTC views to forward, or None (see :meth:`set_output_feed`).
    """

    #: The messages this link answers (type -> handler); a subclass extends a copy.
    handlers: ClassVar[dict[str, Handler]] = OUTPUT_HANDLERS

    def __init__(
        self,
        send: Send,
        streams: Mapping[str, FanOut[OutputSubscriber]],
        *,
        on_transport: Callable[[str | None], None],
        on_views: Callable[[int], None],
        output_feed: EncodedFeed | None = None,
    ) -> None:
        if "output" not in streams or not set(streams) <= set(_messages.STREAMS):
            raise ValueError(f"streams must hold 'output' and only names of {_messages.STREAMS}, got {list(streams)}")
        self._send = send
        self._streams = dict(streams)
        self._on_transport = on_transport
        self._on_views = on_views
        self.views = ViewRegistry()
        #: The output stream's comm sender (one encoder thread each, started by the first comm view).
        self.comm_out = JpegFrameSender(send)
        self._comm: dict[str, JpegFrameSender] = {
            name: self.comm_out if name == "output" else JpegFrameSender(send, stream=name) for name in streams
        }
        #: The streams each comm view wants.
        self._comm_views: dict[str, tuple[str, ...]] = {}
        self._peers: dict[str, BrowserPeer] = {}
        #: The session's encoded output, forwarded by the WebRTC views (None: no session).
        self.output_feed = output_feed
        self._closed = False
        #: Test aid: make the kernel's WebRTC end unreachable (candidates
        #: stripped both ways), as when UDP to the kernel is blocked.
        self.block_webrtc = False
        #: Messages dropped: not a dict, unknown type, fields not as the catalogue says,
        #: not for this widget, or a handler failed.
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
        rid = _messages.request_id(content) if message.request else None
        reply = Reply(self._send, rid) if rid is not None else None
        handler = self.handlers.get(message.kind)
        if handler is None:
            self._malformed(f"{kind} is not for this widget")
            if reply is not None:
                reply.fail(f"this widget does not take {kind} messages")
            return
        view = content.get("view")
        if isinstance(view, str) and view and (self.views.touch(view) or kind == "hello"):
            self._views_changed()
        try:
            handler(self, Incoming(content, list(buffers or []), view, reply))
        except Exception as exc:  # noqa: BLE001 - a bad message must never break the widget
            self.malformed_messages += 1
            log.warning("widget message %r failed", kind, exc_info=True)
            if reply is not None:
                reply.fail(f"{kind} failed in the kernel: {type(exc).__name__}: {exc}")

    def _malformed(self, why: str) -> None:
        self.malformed_messages += 1
        log.debug("widget message dropped: %s", why)

    # ------------------------------------------------------------------ views

    def _views_changed(self) -> None:
        primary = self.views.primary
        self._primary_changed(primary)
        self._on_views(len(self.views))
        self._on_transport(self.views.transport_of(primary) if primary else None)

    def _primary_changed(self, primary: str | None) -> None:
        """Views came or went; ``primary`` is the oldest alive (a hook for subclasses)."""

    def _primary_gone(self) -> None:
        """The primary view went away (a hook for subclasses)."""

    @handles(OUTPUT_HANDLERS, "hello")
    def _hello(self, msg: Incoming) -> None:
        pass  # registered in handle(), which told the widget

    @handles(OUTPUT_HANDLERS, "ping")
    def _ping(self, msg: Incoming) -> None:
        pass  # handle() noted the view is alive

    @handles(OUTPUT_HANDLERS, "bye")
    def _bye(self, msg: Incoming) -> None:
        assert msg.view is not None
        was_primary = self.views.primary == msg.view
        self.views.remove(msg.view)
        self._comm_stop(msg.view)
        self._close_peer(msg.view)
        if was_primary:
            self._primary_gone()
        self._views_changed()

    def drop_stale_views(self) -> None:
        primary = self.views.primary
        gone = self.views.drop_stale()
        for view in gone:
            self._comm_stop(view)
            self._close_peer(view)
        if primary in gone:
            self._primary_gone()
        if gone:
            self._views_changed()

    @handles(OUTPUT_HANDLERS, "transport")
    def _transport(self, msg: Incoming) -> None:
        assert msg.view is not None
        name = msg.content.get("name")
        if name not in ("webrtc", "comm", None):
            self._malformed(f"unknown transport {name!r}")
            return
        self.views.set_transport(msg.view, name)
        if msg.view == self.views.primary or len(self.views) <= 1:
            self._on_transport(name)

    # ----------------------------------------------------------------- comm

    def _comm_wanted(self) -> set[str]:
        return {s for streams in self._comm_views.values() for s in streams}

    @handles(OUTPUT_HANDLERS, "comm_start")
    def _comm_start(self, msg: Incoming) -> None:
        assert msg.view is not None
        streams = _messages.stream_names(msg.content.get("streams"), self._streams)
        if streams is None:
            self._malformed(f"comm_start.streams must name streams of {sorted(self._streams)}")
            return
        before = self._comm_wanted()
        self._comm_views[msg.view] = streams
        for name in sorted(set(streams) - before):
            sender = self._comm[name]
            sender.reset_flow()
            sender.start()
            self._streams[name].subscribe(sender.offer)

    @handles(OUTPUT_HANDLERS, "comm_stop")
    def _comm_stop_msg(self, msg: Incoming) -> None:
        assert msg.view is not None
        self._comm_stop(msg.view)

    def _comm_stop(self, view: str) -> None:
        before = self._comm_wanted()
        self._comm_views.pop(view, None)
        for name in before - self._comm_wanted():
            self._streams[name].unsubscribe(self._comm[name].offer)

    @handles(OUTPUT_HANDLERS, "oack")
    def _output_ack(self, msg: Incoming) -> None:
        sender = self._comm.get(msg.content.get("stream") or "output")
        if sender is None:
            self._malformed(f"oack for an unknown stream {msg.content.get('stream')!r}")
            return
        sender.ack(msg.content["id"])

    # ---------------------------------------------------------------- webrtc

    def _new_peer(self, view: str, streams: Mapping[str, FanOut[OutputSubscriber]]) -> BrowserPeer:
        """The kernel end of a view's peer connection (a subclass adds its camera)."""
        return BrowserPeer(view, streams, self._peer_state, output_feed=self.output_feed)

    def set_output_feed(self, feed: EncodedFeed | None) -> None:
        """The live session's encoded output, forwarded to every WebRTC view
        (None: no session, or none yet). On the media loop."""
        self.output_feed = feed
        for peer in list(self._peers.values()):
            peer.set_output_feed(feed)

    @handles(OUTPUT_HANDLERS, "rtc_offer")
    def _rtc_offer(self, msg: Incoming) -> None:
        reply, view, sdp = msg.reply, msg.view, msg.content["sdp"]
        assert reply is not None and view is not None
        if len(sdp) > 200_000:
            reply.fail("bad offer: SDP over 200 kB")
            return
        names = _messages.stream_names(msg.content.get("streams"), self._streams)
        if names is None:
            reply.fail(f"bad offer: streams must name streams of {sorted(self._streams)}")
            return
        self._close_peer(view)
        blocked = self.block_webrtc
        streams = {name: self._streams[name] for name in names}

        async def answer() -> str:
            if self._closed:
                raise ConnectionError("the widget is closed")
            peer = self._new_peer(view, streams)
            self._peers[view] = peer
            try:
                answer_sdp = await peer.answer(sdp, blocked=blocked)
                if self._closed:  # closed while answering: aclose() took the peer
                    raise ConnectionError("the widget is closed")
                return answer_sdp
            except BaseException:
                if self._peers.get(view) is peer:
                    del self._peers[view]
                await peer.close()
                raise

        def done(f: concurrent.futures.Future[str]) -> None:
            exc = f.exception()
            if exc is None:
                reply.ok({"sdp": f.result()})
            else:  # the browser falls back to the comm transport
                log.info("WebRTC offer of view %s failed: %s: %s", view, type(exc).__name__, exc)
                reply.fail(str(exc))

        media_loop.submit(answer()).add_done_callback(done)

    def _peer_state(self, peer: BrowserPeer, state: str) -> None:
        if state in ("failed", "closed") and self._peers.get(peer.view) is peer:
            del self._peers[peer.view]
            media_loop.spawn(peer.close(), f"closing the peer connection of view {peer.view}")

    @handles(OUTPUT_HANDLERS, "rtc_close")
    def _rtc_close(self, msg: Incoming) -> None:
        assert msg.view is not None
        self._close_peer(msg.view)

    def _close_peer(self, view: str) -> None:
        peer = self._peers.pop(view, None)
        if peer is not None:
            media_loop.spawn(peer.close(), f"closing the peer connection of view {view}")

    @property
    def peer_count(self) -> int:
        """Peer connections to views open now."""
        return len(self._peers)

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sender in self._comm.values():
            out.update(sender.stats())
        out["views"] = len(self.views)
        primary = self.views.primary
        for peer in list(self._peers.values()):
            if peer.view == primary or len(self._peers) == 1:
                out.update(peer.stats())
        return out

    # ----------------------------------------------------------------- close

    async def aclose(self) -> None:
        """Close peer connections and the encoder threads (on the media loop). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for name, sender in self._comm.items():
            self._streams[name].unsubscribe(sender.offer)
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            try:
                await peer.close()
            except Exception:  # noqa: BLE001 - closing the rest regardless
                log.warning("closing the peer connection of view %s failed", peer.view, exc_info=True)
        for sender in self._comm.values():
            await asyncio.to_thread(sender.close)  # joins the encoder thread


def check_handlers(table: Mapping[str, Handler], kinds: Any) -> None:
    """Fail at import when a link class leaves a message it should answer without a handler."""
    missing = set(kinds) - set(table)
    if missing:
        raise RuntimeError(f"browser messages without a handler: {sorted(missing)}")


check_handlers(OUTPUT_HANDLERS, ("hello", "ping", "bye", "transport", "comm_start", "comm_stop", "oack",
                                 "rtc_offer", "rtc_close"))
