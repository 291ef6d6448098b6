"""``DecartLive``: the notebook widget (anywidget). Traits and lifecycle only;
the browser link, transports, server choice and session lifecycle live in
their own modules.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import Any

import anywidget
import traitlets as t

from ..common.fanout import FanOut
from ..common.media_loop import media_loop
from ..errors import DecartError, InvalidInputError
from ..images import MAX_IMAGE_BYTES
from ..media.browser import BrowserCameraSource
from ..models import ModelDefinition, get_model, realtime_model_names
from ..session import ConnectionState, RealtimeSession
from ..session._args import check_media
from ._assets import load_css, load_esm
from ._browser_link import BrowserLink
from ._lease import MediaLoopLease
from ._server_choice import ServerChoice, choose_server
from ._session_runner import SessionRunner
from ._stats import STATS_INTERVAL_S, collect_stats, every
from ._waits import wait_for_state
from ._webrtc_transport import OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["DecartLive"]

_UNSET: Any = object()
#: Seconds with no live view (tab closed, output cleared) after which a
#: displayed widget ends its session; a view coming back reconnects it.
ABANDON_S = 60.0


class DecartLive(anywidget.AnyWidget):
    """A realtime Decart model in a notebook: camera, output video, prompt.

    ``display(DecartLive(model="lucy-2.1"))`` shows the camera and the
    model's output side by side with the prompt controls. With a key
    (``api_key=``, ``$DECART_API_KEY`` or ``get_token=``) it talks to Decart;
    with none it starts the embedded local server (a stand-in model) and says
    so. The key stays in the kernel: it is never a trait, never sent to the
    browser and never saved in the notebook.

    :param model: realtime model name (see :attr:`models`) or a
        :class:`~decart_widgets.models.ModelDefinition`.
    :param prompt: initial prompt ("" for none).
    :param enhance: let the server enhance prompts.
    :param transport: "auto" (WebRTC, falling back to comm), "webrtc" or "comm".
    :param mirror: show the camera and the output mirrored (a selfie view): "auto"
        (front cameras and cameras that do not say), "on" or "off". Display only:
        the model gets the camera as captured.
    :param server: None (Decart with a key, else local), "local", "decart" or a ws(s):// URL.
    :param api_key: Decart API key (kept in the kernel only).
    :param get_token: callable returning a short-lived token (called per connect).
    :param local_model: the local server's model: None (effects), "passthrough" or a callable.
    :param media: the kernel's media link to the model: "auto" (LiveKit for Decart; for
        the local server the faster link, see the README), "livekit" or "webrtc".
    :param connect: connect at once (default); else call :meth:`connect` or press Connect.
    """

    _esm = load_esm()
    _css = load_css()

    model = t.Unicode("lucy-2.1").tag(sync=True)
    """Realtime model name (str, default ``"lucy-2.1"``). Changing it reconnects
    with the same prompt and reference image."""

    models = t.List(t.Unicode(), read_only=True).tag(sync=True)
    """The model names the picker offers (list of str, read-only)."""

    prompt = t.Unicode("").tag(sync=True)
    """The text prompt (str, default ``""``). Set from Python it applies at once;
    typed in the UI it applies after 300 ms of quiet or on Enter."""

    enhance = t.Bool(True).tag(sync=True)
    """Let the server enhance the prompt (bool, default True)."""

    state = t.UseEnum(ConnectionState, default_value=ConnectionState.DISCONNECTED).tag(
        sync=True, to_json=lambda v, _w: v.value if isinstance(v, ConnectionState) else v
    )
    """Connection state (:class:`~decart_widgets.session.ConnectionState`: connecting,
    connected, generating, reconnecting, disconnected; read by the UI's status pill)."""

    session_id = t.Unicode(None, allow_none=True).tag(sync=True)
    """The server's id for the live session (str or None)."""

    generation_seconds = t.Int(0).tag(sync=True)
    """Generated (billed) seconds of the current session, from ``generation_tick`` (int)."""

    error = t.Dict(default_value=None, allow_none=True).tag(sync=True)
    """The last error as ``{"message": str, "code": str}``, or None; the UI shows it in a banner."""

    transport = t.Enum(("auto", "webrtc", "comm"), "auto").tag(sync=True)
    """Requested browser↔kernel transport: "auto" (default: WebRTC with a short
    deadline, then comm), "webrtc" or "comm"."""

    transport_in_use = t.Unicode(None, allow_none=True).tag(sync=True)
    """The transport the camera view uses now: "webrtc", "comm" or None (no view yet)."""

    mirror = t.Enum(("auto", "on", "off"), "auto").tag(sync=True)
    """Show the camera preview and the output mirrored left-right (a selfie
    view): "auto" (default: front cameras and cameras that do not say), "on"
    or "off". Display only (the browser flips the picture): the model gets
    the camera as captured, as Decart's own JS SDK sends it."""

    stats = t.Dict({}).tag(sync=True)
    """About once a second: fps_out, latency_ms, frames sent/received,
    generation_seconds, camera and transport counters (dict)."""

    media = t.Enum(("auto", "livekit", "webrtc"), "auto", read_only=True).tag(sync=True)
    """The kernel↔model media link asked for (set at construction): "auto",
    "livekit" or "webrtc"; the link in use is ``stats["media"]``."""

    queue = t.Unicode("").tag(sync=True)
    """While connecting, the place in Decart's queue for a model slot
    (e.g. ``"queued: 3 of 10"``, shown in the status pill); else ``""``."""

    server = t.Unicode("local", read_only=True).tag(sync=True)
    """Where the session goes: "local", "decart" or a ws(s):// URL (no key)."""

    server_note = t.Unicode("", read_only=True).tag(sync=True)
    """What the UI says about the server, e.g. "local demo model: no DECART_API_KEY"."""

    active = t.Bool(True).tag(sync=True)
    """True while the widget should hold a session (the Connect/Disconnect button sets it)."""

    image_name = t.Unicode("").tag(sync=True)
    """File name of the reference image in use ("" for none)."""

    max_image_bytes = t.Int(MAX_IMAGE_BYTES, read_only=True).tag(sync=True)
    """Largest reference image the UI uploads (bytes)."""

    def __init__(
        self,
        model: str | ModelDefinition = "lucy-2.1",
        *,
        prompt: str = "",
        enhance: bool = True,
        transport: str = "auto",
        mirror: str = "auto",
        server: str | None = None,
        api_key: str | None = None,
        get_token: Any = None,
        local_model: Any = None,
        media: str = "auto",
        connect: bool = True,
    ) -> None:
        model_def = get_model(model)
        media = check_media(media)
        choice = choose_server(server, api_key, get_token)
        names = realtime_model_names()
        if model_def.name not in names:
            names = [model_def.name, *names]
        self._model_def = model_def
        self._choice: ServerChoice = choice
        self._closed = False
        self._suppress_apply = False
        super().__init__(
            model=model_def.name, prompt=prompt, enhance=enhance, transport=transport,
            mirror=mirror, active=connect,
        )
        self.set_trait("models", names)
        self.set_trait("server", choice.label)
        self.set_trait("server_note", choice.note)
        self.set_trait("media", media)
        self._lease = MediaLoopLease("widget")
        self._camera = BrowserCameraSource()
        self._facing: str | None = None
        self._no_views_since: float | None = None
        self._abandoned = False
        # the model's output frames, from the session runner to the transports
        self._output: FanOut[OutputSubscriber] = FanOut()
        self._runner = SessionRunner(
            choice, self._camera, self._output, local_model=local_model, media=media,
            on_queue=lambda text: self.set_trait("queue", text),
            on_state=self._set_state, on_tick=self._set_tick,
            on_error=self._set_error, on_session=self._set_session,
            on_ended=lambda: setattr(self, "active", False),
        )
        self._runner.desired.prompt, self._runner.desired.enhance = prompt, enhance
        self._link = BrowserLink(
            self._send_msg, self._camera, self._output,
            on_transport=lambda name: self.set_trait("transport_in_use", name),
            on_camera_error=self._camera_error, on_views=self._views_changed,
            on_camera_facing=self._set_facing, set_image=self._set_image,
        )
        self.on_msg(self._on_custom_msg)
        self._stats_future = media_loop.submit(every(STATS_INTERVAL_S, self._update_stats, lambda: not self._closed))
        if connect:
            self._submit(self._runner.start(self._model_def))

    # ----------------------------------------------------------- properties

    @property
    def session(self) -> RealtimeSession | None:
        """The live :class:`~decart_widgets.session.RealtimeSession` (None until connected):
        taps, snapshots and recording work on it while the widget shows the video."""
        return self._runner.session

    @property
    def camera(self) -> BrowserCameraSource:
        """The browser camera source the session reads (counters in :meth:`BrowserCameraSource.stats`)."""
        return self._camera

    @property
    def local_server(self) -> Any:
        """The embedded :class:`~decart_widgets.server.LocalServer` when the widget runs one, else None."""
        return self._runner.server

    # ---------------------------------------------------------- callbacks
    # (media loop thread; trait changes from any thread are sent by ipywidgets)

    def _set_state(self, state: str) -> None:
        self.state = ConnectionState(state)
        if state in ("connected", "generating"):
            sess = self._runner.session
            self.session_id = sess.session_id if sess is not None else None

    def _set_tick(self, seconds: int) -> None:
        self.generation_seconds = int(seconds)

    def _set_error(self, error: DecartError | None) -> None:
        if error is None:
            if self.error is not None and self.error.get("code") != "CAMERA_ERROR":
                self.error = None  # type: ignore[assignment]
            return
        self.error = {"message": error.message, "code": error.code}

    def _set_session(self, session: RealtimeSession | None) -> None:
        # (on the media loop) the WebRTC views forward the session's encoded output
        self._link.set_output_feed(session.encoded_output if session is not None else None)
        if session is None:
            self.session_id = None
        else:
            self.generation_seconds = 0
            self.session_id = session.session_id

    def _views_changed(self, count: int) -> None:
        if count:
            self._no_views_since = None
            if self._abandoned and not self._closed:
                self._abandoned = False
                self.active = True  # a view is back: reconnect
        elif self._no_views_since is None:
            self._no_views_since = time.monotonic()

    def _check_abandoned(self) -> None:
        since = self._no_views_since
        if since is not None and self.active and time.monotonic() - since > ABANDON_S:
            log.info("no view of the widget for %.0f s: ending its session", ABANDON_S)
            self._abandoned = True
            self.active = False

    def _camera_error(self, name: str, message: str) -> None:
        self.error = {"message": f"camera: {message or name}", "code": "CAMERA_ERROR"}

    def _set_facing(self, facing: str | None) -> None:
        self._facing = facing  # (the browser mirrors a front camera's picture itself)

    # -------------------------------------------------------------- traits

    @t.validate("model")
    def _check_model(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"]
        current = getattr(self, "_model_def", None)
        if current is not None and name == current.name:
            return name
        get_model(name)  # raises ModelNotFoundError with the valid names
        return name

    @t.observe("model")
    def _model_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "_runner") or change["new"] == self._model_def.name:
            return
        self._model_def = get_model(change["new"])
        if self.active:
            self._submit(self._runner.restart(self._model_def))

    @t.observe("prompt", "enhance")
    def _prompt_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "_runner") or self._suppress_apply:
            return
        self._runner.desired.prompt, self._runner.desired.enhance = self.prompt, self.enhance
        self._submit(self._runner.request_apply())

    @t.observe("active")
    def _active_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "_runner") or self._closed:
            return
        if change["new"]:
            self._submit(self._runner.start(self._model_def))
        else:
            self._submit(self._runner.stop())

    # ------------------------------------------------------------ messages

    def _send_msg(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if self._closed or self.comm is None:
            return
        self.send(content, buffers or None)

    def _on_custom_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        self._link.handle(content, buffers)

    def _set_image(self, data: bytes | None, name: str) -> concurrent.futures.Future[bool]:
        """A reference image from the browser (None clears it); the future ends
        once it is applied (True) or kept for the next connect (False)."""
        self.image_name = name
        fut = media_loop.submit(self._runner.set_image(data))

        def done(f: concurrent.futures.Future[bool]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None:
                if f.result():
                    self._set_error(None)
            else:
                self._set_error(exc if isinstance(exc, DecartError) else DecartError(str(exc)))

        fut.add_done_callback(done)
        return fut

    # -------------------------------------------------------------- public

    def set(self, *, prompt: str | None = None, image: Any = _UNSET, enhance: bool | None = None,
            timeout: float = 30.0) -> None:
        """Replace the prompt and/or reference image atomically; returns once the
        server acknowledged it (raises e.g. on a moderation rejection).
        ``image=None`` clears the image."""
        if prompt is None and image is _UNSET:
            raise InvalidInputError("set() needs at least one of prompt= or image=")
        enh = self.enhance if enhance is None else enhance
        fut = media_loop.submit(self._runner.set_now(prompt, enh, None if image is _UNSET else image,
                                                     image is not _UNSET))
        try:
            fut.result(timeout)
        except DecartError as exc:
            self._set_error(exc)
            raise
        self._suppress_apply = True
        try:
            if prompt is not None:
                self.prompt = prompt
            self.enhance = enh
            if image is not _UNSET:
                self.image_name = "" if image is None else (image if isinstance(image, str) and len(image) < 200 else "image")
        finally:
            self._suppress_apply = False

    def connect(self, wait: bool = True, timeout: float = 60.0) -> None:
        """Connect (if not connected); with ``wait``, return once connected
        (raises the connect error, if any)."""
        self.active = True
        fut = self._submit(self._runner.start(self._model_def))
        if wait:
            fut.result(timeout)
            if self._runner.session is None and self.error:
                raise DecartError(self.error["message"], code=self.error["code"])

    def disconnect(self) -> None:
        """End the session (the widget stays; :meth:`connect` starts a new one)."""
        self.active = False
        self._submit(self._runner.stop()).result(30)

    def wait_for_state(self, *states: str, timeout: float = 30.0) -> str:
        """Block until :attr:`state` is one of ``states``; returns it."""
        return wait_for_state(self, states, timeout)

    def close(self) -> None:
        """Stop everything: session, transports, local server, media loop reference. Idempotent."""
        if "_stats_future" not in self.__dict__:
            super().close()  # construction failed before anything started
            return
        self._closed = True
        # on the media loop (a session event handler) it runs there as a task
        self._lease.end(self._shutdown)
        super().close()

    async def _shutdown(self) -> None:
        """Close the transports and the session (on the media loop)."""
        self._stats_future.cancel()
        await self._link.aclose()
        await self._runner.close()

    def __repr__(self) -> str:
        return (f"<DecartLive model={self.model!r} server={self.server!r} "
                f"state={self.state.value} transport={self.transport_in_use or self.transport!r}>")

    # ------------------------------------------------------------- helpers

    def _submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the media loop; a failure is logged and shown in the banner."""
        fut = media_loop.spawn(coro, "widget task")

        def show(f: concurrent.futures.Future[Any]) -> None:
            exc = None if f.cancelled() else f.exception()
            if exc is not None:
                self._set_error(exc if isinstance(exc, DecartError) else DecartError(str(exc)))

        fut.add_done_callback(show)
        return fut

    def _update_stats(self) -> None:
        self._link.drop_stale_views()
        self._check_abandoned()
        session = self._runner.session
        stats = collect_stats(session, self._link, self.transport_in_use)
        if session is not None and self.session_id != session.session_id:
            self.session_id = session.session_id
        if stats != self.stats:
            self.stats = stats
