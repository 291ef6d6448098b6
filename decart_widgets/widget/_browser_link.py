"""DecartLive's end of its browser views: the camera and the reference image,
on top of the views and transports every widget has
(:class:`~decart_widgets.widget._output_link.OutputLink`).

One view opens the camera: the primary one (the oldest alive). Its frames
arrive as ``cframe`` JPEGs (comm) or on its peer connection's camera track
(WebRTC: encoded, for the session to forward, and decoded while something
needs their pixels) and go to the
:class:`~decart_widgets.media.browser.BrowserCameraSource` the session
reads; when that view goes, the next one takes the camera over. Mirroring
is the browser's (CSS): the camera reaches the model as captured.
The handlers here are registered with ``@handles(_HANDLERS, "type")`` in
this link's table (the shared handlers plus these), so searching for a
message's name leads to its handler. Nothing here ever sends a key.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..common.fanout import FanOut
from ..errors import DecartError
from ..images import MAX_IMAGE_BYTES
from ..media.browser import BrowserCameraSource
from . import _messages
from ._comm_transport import JpegCameraReceiver
from ._output_link import (
    OUTPUT_HANDLERS,
    Handler,
    Incoming,
    OutputLink,
    Reply,
    Send,
    check_handlers,
    handles,
)
from ._webrtc_transport import BrowserPeer, OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["BrowserLink"]

#: Sets (bytes) or clears (None) the reference image with its file name;
#: the future ends when it is applied, or fails with the reason.
SetImage = Callable[["bytes | None", str], "concurrent.futures.Future[Any]"]

#: Every message DecartLive answers: the shared ones and the camera's and image's below.
_HANDLERS: dict[str, Handler] = dict(OUTPUT_HANDLERS)


class BrowserLink(OutputLink):
    """Every view of one DecartLive: which owns the camera, their transports, their requests.

    :param send: sends a message to every view.
    :param source: the browser camera source the session reads.
    :param output: the model's output frames; transports subscribe to it.
    :param set_image: applies a reference image the browser uploaded.
    """

    handlers: ClassVar[dict[str, Handler]] = _HANDLERS

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
        self._source = source
        self._on_camera_error = on_camera_error
        self._on_facing = on_camera_facing
        self._set_image = set_image
        self.camera_in = JpegCameraReceiver(source)
        super().__init__(send, {"output": output}, on_transport=on_transport, on_views=on_views)

    # ------------------------------------------------------------ ownership

    def _primary_changed(self, primary: str | None) -> None:
        for view, peer in list(self._peers.items()):
            peer.owns_camera = view == primary
        self._send({"type": "roles", "camera_view": primary}, [])

    def _primary_gone(self) -> None:
        self._source.reset()

    def _new_peer(self, view: str, streams: Mapping[str, FanOut[OutputSubscriber]]) -> BrowserPeer:
        return BrowserPeer(view, streams, self._peer_state, camera=self._source,
                           owns_camera=view == self.views.camera_view, output_feed=self.output_feed)

    # ----------------------------------------------------------------- camera

    @handles(_HANDLERS, "camera_info")
    def _camera_info(self, msg: Incoming) -> None:
        if msg.view == self.views.camera_view:
            facing = msg.content.get("facing")
            self._on_facing(facing if facing in ("user", "environment") else None)

    @handles(_HANDLERS, "camera_error")
    def _camera_error(self, msg: Incoming) -> None:
        self._on_camera_error(str(msg.content.get("name") or "CameraError"), str(msg.content.get("message") or ""))

    @handles(_HANDLERS, "cframe")
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

    # ----------------------------------------------------------------- image

    @handles(_HANDLERS, "image")
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

    @handles(_HANDLERS, "image_clear")
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
        return {**self._source.stats(), **super().stats(), "camera_frames_rejected": self.camera_in.rejected}


check_handlers(_HANDLERS, _messages.TO_KERNEL)
