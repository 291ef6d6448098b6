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

:meth:`SessionFeed.detach` undoes all of it and leaves the session running
(``DecartView`` does not own its session); a session that disconnects
closes its taps and handlers itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..common.fanout import FanOut
from ..common.yuv import ndarray_to_frame
from ..errors import DecartError, InvalidInputError
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
        self.session = session
        self._output = output
        self._input = input
        self._lock = threading.Lock()
        self._detached = False
        # kept: off_frame finds a callback by identity, and a bound method is a new object each time
        self._relays: list[Callable[..., Any]] = []
        self._events: list[tuple[str, Callable[..., Any]]] = [
            ("connection_change", on_state), ("generation_tick", on_tick), ("error", on_error)]
        #: The taps that run the relays (their counters say how they keep up).
        self.taps: dict[str, Tap] = {}
        try:
            for name, handler in self._events:
                session.on(name, handler)
            self._add(self._relay_output, "output", video_frame=True)
            if input is not None:
                self._add(self._relay_input, "input")
        except BaseException:
            self.detach()
            raise

    def _add(self, relay: Callable[..., Any], stream: str, **kwargs: Any) -> None:
        self._relays.append(relay)
        tap = self.session.on_frame(relay, stream, **kwargs)
        assert tap is not None
        self.taps[stream] = tap

    def _relay_output(self, frame: Any, info: FrameInfo) -> None:
        """The output tap (its own worker thread): to every transport."""
        self._output.emit(frame, info.stamp)

    def _relay_input(self, rgb: np.ndarray, info: FrameInfo) -> None:
        """The input tap (its own worker thread): converted once, to every transport."""
        target = self._input
        if target:  # no view wants it: no conversion
            target.emit(ndarray_to_frame(rgb), info.stamp)

    def detach(self) -> None:
        """Remove the relays and handlers; the session keeps running. Idempotent.
        Blocks while the taps' workers stop: call it off the media loop."""
        with self._lock:
            if self._detached:
                return
            self._detached = True
        for name, handler in self._events:
            self.session.off(name, handler)
        for relay in self._relays:
            try:
                self.session.off_frame(relay)
            except InvalidInputError:
                pass  # the session closed its taps already (it disconnected)
