"""``NumpySource``: frames made by Python code, a function of time or a sequence."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._fit import black_frame, check_fit, fit_frame
from .sources import Source

log = logging.getLogger(__name__)

__all__ = ["NumpySource"]

_SEQUENCES = (list, tuple, np.ndarray)


class NumpySource(Source):
    """Frames from Python: a callable of time, or an iterable of arrays.

    ``fn_or_iterable`` is one of:

    - a callable ``fn(t)`` returning an image array, where ``t`` is seconds
      since the stream started (``index / fps``, so it advances by exactly
      one frame interval per frame); a callable with two or more required
      positional parameters (or ``*args``) is called ``fn(t, index)``.
      Plain functions run in a worker thread (``asyncio.to_thread``, about
      0.1 ms per frame) so a slow one never blocks the event loop; an
      ``async def`` function is awaited on the loop instead.
    - an iterable of arrays (list, generator, iterator, async iterator, or a
      ``TxHxWx3`` array read frame by frame): each frame takes the next one.
      When it runs out the last frame is repeated and :attr:`ended` is set,
      unless ``loop=True``, which starts it again; ``loop=True`` needs an
      iterable that can be iterated again (a list, tuple or array: not a
      generator or iterator, which are consumed once).
    - a single ``HxWx3`` (or ``HxW``) array: a still frame.

    Arrays may be ``HxWx3`` RGB, grayscale ``HxW``, ``HxWx4`` RGBA (alpha
    dropped), ``uint8`` or floats in ``[0, 1]``, at any size: they are fitted
    to the model's frame by ``fit`` (default ``"letterbox"``: aspect kept,
    black bars; ``"crop"``: aspect kept, centre-cropped to fill;
    ``"stretch"``). An array that already has the right size and type is
    passed on without a copy; frames made by the source itself (black
    frames, repeats) are read-only, so copy a frame before writing into it.

    An exception raised by the callable or the iterator (or an array that
    cannot be used) does not stop the stream: it is logged once, counted in
    :attr:`errors`, kept in :attr:`last_error`, and the previous frame (black
    before the first) is sent instead.
    """

    def __init__(self, fn_or_iterable: Any, *, fit: str = "letterbox", loop: bool = False) -> None:
        self._fit = check_fit(fit)
        self._loop = bool(loop)
        self._fn: Callable[..., Any] | None = None
        self._is_async = False
        self._with_index = False
        self._iterable: Any = None
        self._it: Iterator[Any] | AsyncIterator[Any] | None = None
        self._aiter = False
        self._threaded_next = False
        self._last: np.ndarray | None = None
        self._closed = False
        #: Exceptions raised by the user's code (or unusable frames) so far.
        self.errors = 0
        #: The most recent of those exceptions, or None.
        self.last_error: BaseException | None = None
        #: True once a non-looping iterable has run out (the last frame repeats).
        self.ended = False
        #: Frames produced by the user's code (not counting repeats).
        self.frames_produced = 0

        src = fn_or_iterable
        if isinstance(src, np.ndarray):
            if src.ndim in (2, 3):
                src = [src]  # a single still frame
            elif src.ndim != 4:
                raise InvalidInputError(
                    f"NumpySource got an array of shape {src.shape}; expected one frame "
                    "(HxWx3, HxW) or a stack of frames (TxHxWx3)"
                )
        if isinstance(src, (str, bytes)):
            raise InvalidInputError(
                f"NumpySource takes a callable or an iterable of arrays, got {type(src).__name__}; "
                "for an image file use ImageSource, for a video file FileSource"
            )
        if callable(src):
            if inspect.isgeneratorfunction(src) or inspect.isasyncgenfunction(src):
                raise InvalidInputError(
                    f"{getattr(src, '__name__', src)!r} is a generator function: pass the "
                    "generator it makes (gen(), not gen), or a function of time t"
                )
            self._fn = src
            self._is_async = inspect.iscoroutinefunction(src) or inspect.iscoroutinefunction(
                type(src).__call__  # instances with an async __call__
            )
            self._with_index = _wants_index(src)
            return
        if hasattr(src, "__aiter__"):
            if self._loop:
                raise InvalidInputError("loop=True needs a list, tuple or array, not an async iterator")
            self._iterable, self._aiter = src, True
            return
        try:
            it = iter(src)
        except TypeError:
            raise InvalidInputError(
                f"NumpySource takes a callable t -> array or an iterable of arrays, "
                f"got {type(src).__name__}"
            ) from None
        if self._loop and it is src:
            raise InvalidInputError(
                f"loop=True needs an iterable that can be iterated again (a list, tuple or "
                f"array); got a one-shot {type(src).__name__} (pass list(...) of it to loop)"
            )
        self._iterable = src
        self._it = it
        # generators and custom iterators may do real work per item: off the loop
        self._threaded_next = not isinstance(src, _SEQUENCES)

    def configure(self, width: int, height: int, fps: float) -> None:
        super().configure(width, height, fps)
        self._black = black_frame(width, height)
        if self._last is not None and self._last.shape[:2] != (height, width):
            self._last = None

    async def read(self, index: int, t: float) -> np.ndarray:
        if self.width == 0:
            raise RuntimeError("configure() the source before reading")
        if self._closed:
            return self._last if self._last is not None else self._black
        try:
            raw = await self._produce(index, t)
            if raw is not None:
                self.frames_produced += 1
                self._last = fit_frame(raw, self.width, self.height, self._fit)
        except Exception as exc:  # the user's code: never let it end the stream
            self._record_error(exc)
        return self._last if self._last is not None else self._black

    async def _produce(self, index: int, t: float) -> Any:
        """The user's next array, or None to repeat the last frame."""
        if self._fn is not None:
            args = (t, index) if self._with_index else (t,)
            if self._is_async:
                result = await self._fn(*args)
            else:
                result = await asyncio.to_thread(self._fn, *args)
                if inspect.isawaitable(result):  # a plain function returning a coroutine
                    result = await result
            if result is None:
                raise InvalidInputError("the frame function returned None; expected an image array")
            return result
        if self.ended:
            return None
        if self._aiter:
            if self._it is None:
                self._it = self._iterable.__aiter__()
            try:
                return await self._it.__anext__()  # type: ignore[union-attr]
            except StopAsyncIteration:
                self.ended = True
                return None
        _end = object()
        for _attempt in range(2):  # a second attempt only after a loop restart
            it: Any = self._it
            if self._threaded_next:
                item = await asyncio.to_thread(next, it, _end)
            else:
                item = next(it, _end)
            if item is not _end:
                return item
            if not self._loop:
                break
            self._it = iter(self._iterable)
        self.ended = True  # exhausted (or empty even after a restart)
        return None

    def _record_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = exc
        if self.errors == 1:
            log.warning(
                "NumpySource: the frame code raised %s: %s; sending the previous frame "
                "(further errors are counted in .errors, not logged)",
                type(exc).__name__, exc, exc_info=exc,
            )

    def close(self) -> None:
        """Finish a generator being read (its ``finally`` blocks run); later
        reads repeat the last frame. Idempotent."""
        if self._closed:
            return
        self._closed = True
        it, self._it = self._it, None
        closer = getattr(it, "close", None)
        if callable(closer) and not self._aiter:
            try:
                closer()
            except Exception:  # a generator's cleanup must not break close
                log.debug("closing the NumpySource iterator failed", exc_info=True)


def _wants_index(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` should be called ``fn(t, index)`` rather than ``fn(t)``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: call fn(t)
        return False
    required = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            required += 1
    return required >= 2
