"""The frame-access half of ``RealtimeSession``'s public API: taps,
transforms, pairs, snapshots, iterators, recordings and a notebook view, all
served by the session's :class:`~decart_widgets.media.frames.FrameHub`. A private base
class, so the session's module holds the connection half."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..common.media_loop import media_loop
from ..errors import DecartTimeoutError, InvalidInputError
from ..media.frames import FrameHub, SessionRecording
from ..media.taps import Tap

if TYPE_CHECKING:
    from ..widget import DecartView
    from ._session import RealtimeSession

__all__ = ["FrameAccess"]


class FrameAccess:
    _hub: FrameHub

    def _check_open(self) -> None:
        raise NotImplementedError

    def _check_sender(self) -> Any:
        raise NotImplementedError

    def on_frame(
        self, callback: Callable[..., Any], stream: str = "output", *, transform: bool = False,
        video_frame: bool = False,
    ) -> Tap | None:
        """Call ``callback(frame, info)`` with ``HxWx3 uint8`` RGB frames of ``stream``.

        Callbacks run on a worker of their own, always on the newest frame;
        frames they are too slow for are counted as skipped, never queued. An
        exception is reported once (``error`` event) and media goes on. With
        ``transform=True`` (input only) the callback's returned array replaces
        the frame sent to the model (``None`` keeps it); transforms run in
        order, off the media loop, and their time adds to the upstream delay.
        ``video_frame=True`` (output only) passes the received ``av.VideoFrame``
        unconverted. Returns the callback's tap (its ``offered``,
        ``delivered`` and ``skipped`` counts), None for a transform.
        """
        self._check_open()
        if stream == "input":
            self._check_sender()
        return self._hub.on_frame(callback, stream, transform=transform, video_frame=video_frame)

    def on_pair(self, callback: Callable[..., Any]) -> Tap:
        """Call ``callback(input, output, info)`` with each output frame and the
        input frame that produced it: exact when the source stamps a counter
        (the test pattern; ``info.matched_by == "stamp"``), otherwise the input
        sent one measured latency earlier (approximate, ``"time"``)."""
        self._check_open()
        self._check_sender()
        return self._hub.on_pair(callback)

    def off_frame(self, callback: Callable[..., Any]) -> None:
        """Remove a frame callback, transform or pair callback."""
        if not self._hub.off(callback):
            raise InvalidInputError("that callback is not registered")

    async def snapshot(self, stream: str = "output", timeout: float = 10.0) -> np.ndarray:
        """The next frame of ``stream`` as an ``HxWx3 uint8`` RGB array."""
        self._check_open()
        if stream not in ("input", "output"):
            raise InvalidInputError(f"stream must be 'input' or 'output', got {stream!r}")
        if stream == "input":
            self._check_sender()

        async def wait() -> np.ndarray:
            return await asyncio.wait_for(self._hub.next_frame(stream), timeout)

        try:
            return await media_loop.run(wait())
        except asyncio.TimeoutError as exc:
            raise DecartTimeoutError(f"no {stream} frame within {timeout:g} s", phase="frame") from exc

    def frames(self, stream: str = "output", *, max_fps: float | None = None, with_info: bool = False) -> AsyncIterator[Any]:
        """``async for frame in session.frames("output", max_fps=5)``: newest frames,
        at most ``max_fps`` a second; ``with_info=True`` yields ``(frame, info)``.
        Works from any event loop; leaving the loop removes its tap."""
        self._check_open()
        if stream == "input":
            self._check_sender()
        return self._hub.iterate(stream, max_fps, with_info=with_info)

    def record(self, path: str | Path, streams: str = "output", fps: float | None = None) -> SessionRecording:
        """Record ``"output"``, ``"input"`` or ``"side_by_side"`` to an MP4 (H.264).

        Returns a recording with ``stop()`` (also a context manager). Timestamps
        follow the wall clock, so a reconnect shows as a pause; ``fps`` caps the
        rate (default: every frame). Stopped by ``disconnect()`` at the latest.
        """
        self._check_open()
        if streams in ("input", "side_by_side"):
            self._check_sender()
        return self._hub.record(path, streams, fps)

    def show(self, *, show_input: bool = False, transport: str = "auto") -> DecartView:
        """A :class:`~decart_widgets.widget.DecartView` of this session for a
        notebook cell: its output (and with ``show_input=True`` its input),
        status and stats. Closing the view leaves the session running."""
        from ..widget import DecartView  # the widget layer builds on this one: imported on use

        return DecartView(cast("RealtimeSession", self), show_input=show_input, transport=transport)
