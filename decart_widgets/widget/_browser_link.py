"""The kernel end of the widget's custom messages: views, camera ownership,
both media transports and reference-image uploads.

Messages from the browser arrive on the thread that handles comm messages
(the kernel's shell thread); WebRTC work hops to the media loop. Replies to
requests carry the request's ``id``. Nothing here ever sends a key.

Browser → kernel: ``hello``/``ping``/``bye`` ``{view}``; ``camera_info``
``{view, facing}``; ``camera_error`` ``{view, name, message}``; ``cframe``
``{id}`` + JPEG; ``oack`` ``{id}``; ``comm_start``/``comm_stop`` ``{view}``;
``rtc_offer`` ``{id, view, sdp}``; ``rtc_close`` ``{view}``; ``transport``
``{view, name}``; ``image`` ``{id, name}`` + bytes; ``image_clear`` ``{id}``.

Kernel → browser: ``roles`` ``{camera_view}``; ``cack``; ``oframe`` + JPEG;
``rtc_answer`` ``{id, sdp}`` / ``rtc_error`` ``{id, message}``;
``image_result`` ``{id, ok, error}``.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any

from ..common.media_loop import media_loop
from ..media.browser import BrowserCameraSource
from ._comm_transport import CameraReceiver, OutputSender
from ._hub import OutputHub
from ._views import ViewRegistry
from ._webrtc_transport import BrowserPeer

log = logging.getLogger(__name__)

__all__ = ["BrowserLink"]

Send = Callable[[dict[str, Any], list[bytes]], None]


class BrowserLink:
    def __init__(
        self,
        send: Send,
        source: BrowserCameraSource,
        hub: OutputHub,
        *,
        on_transport: Callable[[str | None], None],
        on_camera_error: Callable[[str, str], None],
        on_views: Callable[[int], None],
        on_image: Callable[[Any, str, Callable[[bool, str | None], None]], None],
        on_image_clear: Callable[[Callable[[bool, str | None], None]], None],
        on_mirror_facing: Callable[[str | None], None],
    ) -> None:
        self._send = send
        self._source = source
        self._hub = hub
        self._on_transport = on_transport
        self._on_camera_error = on_camera_error
        self._on_views = on_views
        self._on_image, self._on_image_clear = on_image, on_image_clear
        self._on_facing = on_mirror_facing
        self.views = ViewRegistry()
        self.camera_in = CameraReceiver(source, send)
        self.comm_out = OutputSender(send)
        self._comm_views: set[str] = set()
        self._peers: dict[str, BrowserPeer] = {}
        self._closed = False
        #: Test aid: make the kernel's WebRTC end unreachable (candidates
        #: stripped both ways), as when UDP to the kernel is blocked.
        self.block_webrtc = False
        self.malformed_messages = 0

    # --------------------------------------------------------------- dispatch

    def handle(self, content: Any, buffers: list[Any] | None) -> None:
        if self._closed or not isinstance(content, dict):
            self.malformed_messages += 1
            return
        kind = content.get("type")
        view = content.get("view")
        if isinstance(view, str) and view:
            if self.views.touch(view) or kind == "hello":
                self._views_changed()
        handler = getattr(self, f"_msg_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        if handler is None:
            self.malformed_messages += 1
            return
        try:
            handler(content, buffers or [])
        except Exception:  # noqa: BLE001 - a bad message must never break the widget
            self.malformed_messages += 1
            log.warning("widget message %r failed", kind, exc_info=True)

    def _views_changed(self) -> None:
        owner = self.views.camera_view
        for view, peer in list(self._peers.items()):
            peer.camera = view == owner
        self._send({"type": "roles", "camera_view": owner}, [])
        self._on_views(len(self.views))
        self._on_transport(self.views.transport_of(owner) if owner else None)

    def _msg_hello(self, content: dict[str, Any], buffers: list[Any]) -> None:
        pass  # registered in handle(); roles sent there

    def _msg_ping(self, content: dict[str, Any], buffers: list[Any]) -> None:
        pass

    def _msg_bye(self, content: dict[str, Any], buffers: list[Any]) -> None:
        view = str(content.get("view"))
        self._forget_view(view)

    def _forget_view(self, view: str) -> None:
        was_owner = self.views.camera_view == view
        self.views.remove(view)
        self._comm_stop(view)
        self._close_peer(view)
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

    # ----------------------------------------------------------------- camera

    def _is_owner(self, content: dict[str, Any]) -> bool:
        return content.get("view") == self.views.camera_view

    def _msg_camera_info(self, content: dict[str, Any], buffers: list[Any]) -> None:
        if self._is_owner(content):
            facing = content.get("facing")
            self._on_facing(facing if facing in ("user", "environment") else None)

    def _msg_camera_error(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._on_camera_error(str(content.get("name") or "CameraError"), str(content.get("message") or ""))

    def _msg_cframe(self, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("view") not in (None, self.views.camera_view):
            self._send({"type": "cack", "id": content.get("id")}, [])  # not the camera owner
            return
        self.camera_in.handle(content, buffers)

    # ---------------------------------------------------------- comm output

    def _msg_comm_start(self, content: dict[str, Any], buffers: list[Any]) -> None:
        view = str(content.get("view"))
        if not self._comm_views:
            self.comm_out.reset_flow()
            self.comm_out.start()
            self._hub.subscribe(self.comm_out.offer)
        self._comm_views.add(view)

    def _msg_comm_stop(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._comm_stop(str(content.get("view")))

    def _comm_stop(self, view: str) -> None:
        self._comm_views.discard(view)
        if not self._comm_views:
            self._hub.unsubscribe(self.comm_out.offer)

    def _msg_oack(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self.comm_out.ack(content.get("id"))

    def _msg_transport(self, content: dict[str, Any], buffers: list[Any]) -> None:
        view, name = str(content.get("view")), content.get("name")
        if name not in ("webrtc", "comm", None):
            return
        self.views.set_transport(view, name)
        if view == self.views.camera_view or len(self.views) <= 1:
            self._on_transport(name)

    # ---------------------------------------------------------------- webrtc

    def _msg_rtc_offer(self, content: dict[str, Any], buffers: list[Any]) -> None:
        req_id, view, sdp = content.get("id"), str(content.get("view")), content.get("sdp")
        if not isinstance(sdp, str) or len(sdp) > 200_000:
            self._send({"type": "rtc_error", "id": req_id, "message": "bad offer"}, [])
            return
        self._close_peer(view)
        blocked = self.block_webrtc

        async def answer() -> str:
            peer = BrowserPeer(view, self._source, self._hub.subscribe, self._hub.unsubscribe, self._peer_state)
            peer.camera = view == self.views.camera_view
            self._peers[view] = peer
            return await peer.answer(sdp, blocked=blocked)

        fut = media_loop.submit(answer())

        def done(f: concurrent.futures.Future[str]) -> None:
            try:
                self._send({"type": "rtc_answer", "id": req_id, "sdp": f.result()}, [])
            except Exception as exc:  # noqa: BLE001 - reported to the browser, which falls back
                self._send({"type": "rtc_error", "id": req_id, "message": str(exc)}, [])

        fut.add_done_callback(done)

    def _peer_state(self, peer: BrowserPeer, state: str) -> None:
        if state in ("failed", "closed") and self._peers.get(peer.view) is peer:
            del self._peers[peer.view]
            media_loop.submit(peer.close())

    def _msg_rtc_close(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._close_peer(str(content.get("view")))

    def _close_peer(self, view: str) -> None:
        peer = self._peers.pop(view, None)
        if peer is not None:
            media_loop.submit(peer.close())

    # ----------------------------------------------------------------- image

    def _reply(self, req_id: Any) -> Callable[[bool, str | None], None]:
        def reply(ok: bool, error: str | None) -> None:
            self._send({"type": "image_result", "id": req_id, "ok": ok, "error": error}, [])
        return reply

    def _msg_image(self, content: dict[str, Any], buffers: list[Any]) -> None:
        reply = self._reply(content.get("id"))
        if len(buffers) != 1:
            reply(False, "expected one image buffer")
            return
        name = str(content.get("name") or "image")[:200]
        self._on_image(bytes(memoryview(buffers[0]).cast("B")), name, reply)

    def _msg_image_clear(self, content: dict[str, Any], buffers: list[Any]) -> None:
        self._on_image_clear(self._reply(content.get("id")))

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self._source.stats(), **self.comm_out.stats(),
                               "camera_frames_rejected": self.camera_in.rejected,
                               "views": len(self.views)}
        for peer in list(self._peers.values()):
            if peer.camera or len(self._peers) == 1:
                out.update(peer.stats())
        return out

    # ----------------------------------------------------------------- close

    def close(self) -> None:
        """Close peer connections and the encoder thread. Not on the media loop."""
        if self._closed:
            return
        self._closed = True
        self._hub.unsubscribe(self.comm_out.offer)
        self.comm_out.close()
        peers, self._peers = list(self._peers.values()), {}

        async def close_all() -> None:
            for peer in peers:
                await peer.close()

        if peers:
            try:
                media_loop.run_sync(close_all(), timeout=10)
            except Exception:  # noqa: BLE001 - closing regardless
                log.warning("closing browser peer connections failed", exc_info=True)
