"""``DecartView``: a view-only widget for any ``RealtimeSession``. Traits and
lifecycle only; the browser link, transports and the session's relay are
the pieces ``DecartLive`` uses too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anywidget
import traitlets as t

from ..common.fanout import FanOut
from ..common.media_loop import media_loop
from ..errors import DecartError, InvalidInputError, SessionClosedError
from ..session import ConnectionState, RealtimeSession
from ._assets import load_css, load_esm
from ._lease import MediaLoopLease
from ._output_link import OutputLink
from ._session_feed import SessionFeed
from ._stats import STATS_INTERVAL_S, collect_stats, every
from ._waits import wait_for_state
from ._webrtc_transport import OutputSubscriber

__all__ = ["DecartView"]

TRANSPORTS = ("auto", "webrtc", "comm")


class DecartView(anywidget.AnyWidget):
    """A session's video in the notebook, view-only: ``display(DecartView(session))``.

    Shows any :class:`~decart_widgets.session.RealtimeSession`'s output (and
    with ``show_input=True`` the frames it sends the model) with the status
    pill and stats of :class:`DecartLive`, over the same transports; no
    camera, no prompt controls. It works for headless sessions (a test
    pattern, :class:`~decart_widgets.FileSource`,
    :class:`~decart_widgets.NumpySource`) and for watched ones
    (:meth:`RealtimeSession.subscribe <decart_widgets.session.RealtimeSession.subscribe>`);
    several views of one session can be open at once.

    The view does not own the session: closing the view leaves the session
    running, and when the session ends the view says so and lets go of
    everything it started (transports, relays, threads). The key stays in
    the kernel.

    :param session: the live session to show.
    :param show_input: show the frames the session sends beside its output
        (not for a watched session: it sends none).
    :param transport: "auto" (WebRTC, falling back to comm), "webrtc" or "comm".
    """

    _esm = load_esm("view.js")
    _css = load_css()

    state = t.UseEnum(ConnectionState, default_value=ConnectionState.DISCONNECTED).tag(
        sync=True, to_json=lambda v, _w: v.value if isinstance(v, ConnectionState) else v
    )
    """The session's connection state (:class:`~decart_widgets.session.ConnectionState`;
    read by the UI's status pill). ``disconnected`` once the session has ended."""

    session_id = t.Unicode(None, allow_none=True).tag(sync=True)
    """The server's id for the session (str or None)."""

    generation_seconds = t.Int(0).tag(sync=True)
    """Generated (billed) seconds of the session, from ``generation_tick`` (int)."""

    error = t.Dict(default_value=None, allow_none=True).tag(sync=True)
    """The session's last error as ``{"message": str, "code": str}``, or None; the UI shows it in a banner."""

    transport = t.Enum(TRANSPORTS, "auto").tag(sync=True)
    """Requested browser↔kernel transport: "auto" (default: WebRTC with a short
    deadline, then comm), "webrtc" or "comm"."""

    transport_in_use = t.Unicode(None, allow_none=True).tag(sync=True)
    """The transport the (first) view uses now: "webrtc", "comm" or None (no view yet)."""

    stats = t.Dict({}).tag(sync=True)
    """About once a second: the session's stats (fps, latency, frames), the
    transport's counters and the transport in use (dict)."""

    show_input = t.Bool(False, read_only=True).tag(sync=True)
    """Whether the input (the frames the session sends) shows beside the output (bool, set at construction)."""

    model = t.Unicode("", read_only=True).tag(sync=True)
    """The session's model name ("" for a watched session, whose model the token does not say)."""

    view_only = t.Bool(False, read_only=True).tag(sync=True)
    """True when the session is a watched one (:meth:`RealtimeSession.subscribe`)."""

    def __init__(self, session: RealtimeSession, *, show_input: bool = False, transport: str = "auto") -> None:
        if not isinstance(session, RealtimeSession):
            raise InvalidInputError(
                f"DecartView shows a RealtimeSession (from RealtimeSession.connect or .subscribe), "
                f"got {type(session).__name__}")
        if not isinstance(show_input, bool):
            raise InvalidInputError(f"show_input must be True or False, got {show_input!r}")
        if transport not in TRANSPORTS:
            raise InvalidInputError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        if show_input and session.view_only:
            raise InvalidInputError(
                "show_input=True needs a session that sends video; a watched session "
                "(RealtimeSession.subscribe) receives the output only")
        if session.connection_state == ConnectionState.DISCONNECTED.value:
            raise SessionClosedError("this session is disconnected: a view needs a live session")
        self._session = session
        self._ended = False
        super().__init__(transport=transport)
        self.set_trait("show_input", show_input)
        self.set_trait("view_only", session.view_only)
        self.set_trait("model", "" if session.view_only else session.model.name)
        self._lease = MediaLoopLease("view")
        # the session's frames, from its taps to the transports
        self._output: FanOut[OutputSubscriber] = FanOut()
        self._input: FanOut[OutputSubscriber] | None = FanOut() if show_input else None
        streams = {"output": self._output, **({"input": self._input} if self._input is not None else {})}
        # WebRTC views forward the session's encoded output (aiortc link) as it arrived
        self._link = OutputLink(self._send_msg, streams,
                                on_transport=lambda name: self.set_trait("transport_in_use", name),
                                on_views=lambda count: None, output_feed=session.encoded_output)
        self.on_msg(self._on_custom_msg)
        self._stats_future = media_loop.submit(every(STATS_INTERVAL_S, self._update_stats, lambda: not self._ended))
        # the feed's handlers may run (and end the view) before it is assigned
        self._feed: SessionFeed | None = None
        try:
            self._feed = SessionFeed(session, self._output, input=self._input, on_state=self._state_event,
                                     on_tick=self._tick_event, on_error=self._set_error)
        except BaseException:
            self._end()
            super().close()
            raise
        self.generation_seconds = session.generation_seconds
        self.session_id = session.session_id
        self._set_state(session.connection_state)  # after subscribing: no change is missed

    # ----------------------------------------------------------- properties

    @property
    def session(self) -> RealtimeSession:
        """The session this view shows."""
        return self._session

    @property
    def ended(self) -> bool:
        """True once the view let go of everything it started (the session ended, or :meth:`close`)."""
        return self._lease.ended

    # ---------------------------------------------------------- callbacks
    # (media loop thread, or the constructor's)

    # A view made after connect may get the events held during connect
    # replayed (RealtimeSession.on): an event says "look", the session says what is.

    def _state_event(self, _state: str) -> None:
        self._set_state(self._session.connection_state)

    def _tick_event(self, _seconds: int) -> None:
        self.generation_seconds = int(self._session.generation_seconds)

    def _set_state(self, state: str) -> None:
        if self._ended:
            return
        self.state = ConnectionState(state)
        if state in ("connected", "generating"):
            self.session_id = self._session.session_id
        elif state == "disconnected":
            self._end()  # why it ended came first, as an error event (none when its owner ended it)

    def _set_error(self, error: DecartError) -> None:
        self.error = {"message": error.message, "code": error.code}

    def _update_stats(self) -> None:
        self._link.drop_stale_views()
        session = self._session
        if session.connection_state != self.state.value:
            self._set_state(session.connection_state)  # a change whose event came before ours
        if self._ended:
            return
        if self.session_id != session.session_id:
            self.session_id = session.session_id
        stats = collect_stats(session, self._link, self.transport_in_use)
        if stats != self.stats:
            self.stats = stats

    # ------------------------------------------------------------ messages

    def _send_msg(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if self.comm is None:
            return
        self.send(content, buffers or None)

    def _on_custom_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        self._link.handle(content, buffers)

    # -------------------------------------------------------------- public

    def wait_for_state(self, *states: str, timeout: float = 30.0) -> str:
        """Block until :attr:`state` is one of ``states``; returns it."""
        return wait_for_state(self, states, timeout)

    def close(self) -> None:
        """Stop showing the session: the view's transports, relays and threads
        end; the session keeps running. Idempotent."""
        if "_stats_future" in self.__dict__:
            self._end()
        super().close()

    def _end(self) -> None:
        """Let go of everything the view started (once; from any thread)."""
        self._ended = True
        self._lease.end(self._shutdown)

    async def _shutdown(self) -> None:
        """On the media loop: the stats loop, the relays, the transports."""
        self._stats_future.cancel()
        if self._feed is not None:  # else it never subscribed, or its session ended and removed it
            await asyncio.to_thread(self._feed.detach)  # joins the relays' tap workers
        await self._link.aclose()
        self.set_trait("transport_in_use", None)

    def __repr__(self) -> str:
        what = "watched session" if self.view_only else f"session model={self.model!r}"
        return (f"<DecartView {what} state={self.state.value} show_input={self.show_input} "
                f"transport={self.transport_in_use or self.transport!r}>")
