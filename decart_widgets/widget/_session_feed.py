"""A session's frames and events, relayed to a widget through the session's
public API.

- output: ``session.on_frame(relay, "output", video_frame=True)``: each
  received frame, unconverted, on the tap's own worker, emitted to the
  widget's output fan-out (the transports subscribe to it);
- input (when asked): ``session.on_frame(relay, "input")``: each RGB frame
  the model is sent, converted once to yuv420p on the tap's worker (what
  both transports encode from), emitted to the input fan-out;
- events: ``connection_change``, ``generation_tick`` and ``error`` to the
  widget's callbacks (they run on the media loop).

A relay's tap is registered only while its fan-out has subscribers
(``FanOut.watch``): a tap makes the session decode that stream (an output
tap stops the session's aiortc link from leaving its output undecoded; an
input tap makes the pump decode a forwarded camera), so a widget whose
views all forward the encoded output (its WebRTC views), or that nobody
watches, costs the session no decoding. The taps come and go on the media
loop, one change at a time.

:meth:`SessionFeed.detach` undoes all of it and leaves the session running
(``DecartView`` does not own its session); a session that disconnects
closes its taps and handlers itself, and the feed stops there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..common.fanout import FanOut
from ..common.media_loop import media_loop
from ..common.yuv import ndarray_to_frame
from ..errors import DecartError, InvalidInputError, SessionClosedError
from ..media.taps import FrameInfo, Tap
from ..session import RealtimeSession
from ._webrtc_transport import OutputSubscriber

log = logging.getLogger(__name__)

__all__ = ["SessionFeed"]


class SessionFeed:
    """Relays one session's output (and optionally input) frames and its events.

    :param session: the session to relay (it keeps running after :meth:`detach`).
    :param output: where its output frames go.
    :param input: where its input frames go (None: not relayed).

    Needs the media loop (held by the widget) while it is attached.
    """

    def __init__(
        self,
        session: RealtimeSession,
        output: FanOut[OutputSubscriber],
        *,
        input: FanOut[OutputSubscriber] | None = None,
        on_state: Callable[[str], None],
        on_tick: Callable[[int], None],
        on_error: Callable[[DecartError], None],
    ) -> None:
        if session.connection_state == "disconnected":
            raise SessionClosedError("this session is disconnected; a widget needs a live session")
        self.session = session
        self._lock = threading.Lock()
        #: Detached, or the session ended: no more relays.
        self._done = False
        self._detached = False
        # stream -> (its fan-out, the relay, on_frame's keywords); the relays
        # are kept: off_frame finds a callback by equality
        self._relays: dict[str, tuple[FanOut[OutputSubscriber], Callable[..., Any], dict[str, Any]]] = {
            "output": (output, self._relay_output, {"video_frame": True})}
        if input is not None:
            self._relays["input"] = (input, self._relay_input, {})
        self._on_state = on_state
        self._events: list[tuple[str, Callable[..., Any]]] = [
            ("connection_change", self._state), ("generation_tick", on_tick), ("error", on_error)]
        #: The taps that run the relays now (their counters say how they keep up).
        self.taps: dict[str, Tap] = {}
        self._dirty = False
        # True from spawning a sync until it decides, under the lock, that
        # nothing is left to do: a change in between is always seen (a done
        # future would say so only after that decision, and lose the change)
        self._syncing = False
        self._sync: concurrent.futures.Future[None] | None = None
        for name, handler in self._events:
            session.on(name, handler)
        for fan, _relay, _kw in self._relays.values():
            fan.watch(self._demand_changed)
        if any(fan for fan, _relay, _kw in self._relays.values()):
            self._demand_changed(0)  # a view takes a stream already

    # ------------------------------------------------------------- relays

    def _relay_output(self, frame: Any, info: FrameInfo) -> None:
        """The output tap (its own worker thread): to every transport."""
        self._relays["output"][0].emit(frame, info.stamp)

    def _relay_input(self, rgb: np.ndarray, info: FrameInfo) -> None:
        """The input tap (its own worker thread): converted once, to every transport."""
        target = self._relays["input"][0]
        if target:  # no view wants it (it just left): no conversion
            target.emit(ndarray_to_frame(rgb), info.stamp)

    def _demand_changed(self, _count: int) -> None:
        """A fan-out's subscribers changed (any thread): bring the taps in line, on the media loop."""
        with self._lock:
            if self._done:
                return
            self._dirty = True
            if self._syncing:
                return  # the running sync looks again before it ends
            self._syncing = True
            coro = self._sync_taps()
            try:
                self._sync = media_loop.spawn(coro, "the session feed's tap change")
            except RuntimeError as exc:  # no media loop: the widget is shutting down
                self._syncing = False
                coro.close()
                log.debug("session feed: taps not synced: %s", exc)

    async def _sync_taps(self) -> None:
        """Register a stream's relay while its fan-out has subscribers, remove it while not."""
        try:
            await self._sync_until_clean()
        except BaseException:
            with self._lock:  # a failed or cancelled sync must not block the next
                self._syncing = False
            raise

    async def _sync_until_clean(self) -> None:
        while True:
            remove: list[tuple[str, Callable[..., Any]]] = []
            with self._lock:
                if self._done or not self._dirty:
                    self._syncing = False
                    return
                self._dirty = False
                for name, (fan, relay, kwargs) in self._relays.items():
                    if bool(fan) and name not in self.taps:
                        try:
                            tap = self.session.on_frame(relay, name, **kwargs)
                        except DecartError as exc:  # the session ended meanwhile
                            log.debug("%s relay not registered: %s", name, exc)
                            continue
                        assert tap is not None
                        self.taps[name] = tap
                    elif not fan and name in self.taps:
                        del self.taps[name]
                        remove.append((name, relay))
            for name, relay in remove:
                await asyncio.to_thread(self._remove, name, relay)  # joins the tap's worker

    def _remove(self, name: str, relay: Callable[..., Any]) -> None:
        try:
            self.session.off_frame(relay)
        except InvalidInputError:
            pass  # the session closed its taps already (it disconnected)

    def _state(self, state: str) -> None:
        if state == "disconnected":
            with self._lock:  # the session closed its taps itself
                self._done = True
                self.taps.clear()
            self._unwatch()
        self._on_state(state)

    def _unwatch(self) -> None:
        for fan, _relay, _kw in self._relays.values():
            fan.unwatch(self._demand_changed)

    # -------------------------------------------------------------- detach

    def detach(self) -> None:
        """Remove the relays and handlers; the session keeps running. Idempotent.
        Blocks while the taps' workers stop: call it off the media loop."""
        with self._lock:
            if self._detached:
                return
            self._detached = self._done = True
            registered, self.taps = self.taps, {}
            sync = self._sync
        self._unwatch()
        for name, handler in self._events:
            self.session.off(name, handler)
        if sync is not None and not media_loop.in_loop_thread():
            # a relay it is removing is gone after it (a failure was logged by spawn)
            concurrent.futures.wait([sync], timeout=10)
        for name in registered:
            self._remove(name, self._relays[name][1])
