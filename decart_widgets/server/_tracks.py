"""The media path of one stream: the client's frames through the local model
into the output track, latest frame wins.

- :class:`FrameProcessor` reads the client's track, keeps only the newest
  frame waiting, and runs the model on it on a dedicated worker thread (never
  on the event loop). Frames replaced while the model was busy are counted as
  dropped, never queued.
- :class:`OutputTrack` is what the client (and, through a MediaRelay, every
  subscriber) receives; ``recv()`` waits for the next processed frame.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable

import cv2
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from ..common.rtc import track_frames
from ..common.slot import LatestSlot
from ..common.stamp import read_stamp, stamp_rect
from ..common.yuv import ndarray_to_frame
from .model_api import LocalModel, ModelState

__all__ = ["OutputTrack", "FrameProcessor", "passthrough", "drain"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 10.0


def passthrough(frame: np.ndarray, state: ModelState) -> np.ndarray:
    """The identity model (``LocalServer(model="passthrough")``)."""
    return frame


async def drain(track: MediaStreamTrack) -> None:
    """Read and drop ``track`` until it ends: an unread remote track buffers without bound."""
    async for _ in track_frames(track):
        pass


class OutputTrack(MediaStreamTrack):
    """The processed video; the newest frame wins if the sender falls behind."""

    kind = "video"

    def __init__(self, on_frame_sent: Callable[[], None]) -> None:
        super().__init__()
        self._slot: LatestSlot[VideoFrame] = LatestSlot()
        self._on_frame_sent = on_frame_sent
        self.frozen = False

    def put(self, frame: VideoFrame) -> None:
        if not self.frozen:
            self._slot.put(frame)

    def freeze(self) -> None:
        """Send no more frames (``Faults.freeze_output_after_seconds``); the track stays live."""
        self.frozen = True
        self._slot.clear()

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._slot.take_async()
        if frame is None or self.readyState != "live":
            raise MediaStreamError
        self._on_frame_sent()
        return frame

    def stop(self) -> None:
        super().stop()
        self._slot.close()  # wake a waiting recv() so it raises MediaStreamError


def _warm_up_text() -> None:
    cv2.putText(np.zeros((8, 8), np.uint8), "0", (0, 7), cv2.FONT_HERSHEY_SIMPLEX, 0.2, 255, 1)


def _valid_output(out: object) -> np.ndarray:
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
        desc = f"{type(out).__name__}" + (f" {out.dtype} {out.shape}" if isinstance(out, np.ndarray) else "")
        raise TypeError(f"a local model must return an HxWx3 uint8 RGB array, got {desc}")
    if out.shape[0] < 2 or out.shape[1] < 2:
        raise ValueError(f"a local model returned a frame too small to encode: {out.shape}")
    return out


class FrameProcessor:
    """Runs ``model`` on the newest input frame on one worker thread."""

    def __init__(
        self,
        model: LocalModel,
        get_state: Callable[[], ModelState],
        output: OutputTrack,
        *,
        thread_name: str,
        trusted_identity: bool = False,
        on_frame_processed: Callable[[], None] | None = None,
    ) -> None:
        self._model = model
        self._identity = model is passthrough
        # the model promises never to write into its input, so getting the
        # input array back means "unchanged": the input frame goes through as is
        self._trusted_identity = trusted_identity
        self._get_state = get_state
        self._output = output
        self._on_frame_processed = on_frame_processed
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        if not self._identity:
            # OpenCV's text engine costs 20-30 ms on its first call in a thread
            # (models label their output): pay it now, while ICE connects
            self._executor.submit(_warm_up_text)
        self._inbox: LatestSlot[VideoFrame] = LatestSlot()
        self._pump: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self.frames_in = 0
        self.frames_out = 0
        self.model_errors = 0

    # -- lifecycle ------------------------------------------------------
    def set_input(self, track: MediaStreamTrack) -> None:
        """Read frames from ``track`` (replacing any previous input)."""
        if self._closed:
            return
        if self._pump is not None:
            self._pump.cancel()
        self._pump = asyncio.ensure_future(self._read(track))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    def run_in_worker(self, fn: Callable[..., object], *args: object) -> asyncio.Future[object]:
        """Run ``fn`` on this stream's worker thread (e.g. decoding an image)."""
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._pump, self._worker) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inbox.close()
        # A model call in progress cannot be interrupted: wait for it (bounded),
        # then join the worker thread, which by then exits at once.
        done = self._executor.submit(lambda: None)
        self._executor.shutdown(wait=False)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), _CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("local model still busy %.0f s after its stream closed; leaving its thread", _CLOSE_TIMEOUT)
            return
        self._executor.shutdown(wait=True)

    # -- the frame path -------------------------------------------------
    @property
    def frames_dropped(self) -> int:
        """Input frames replaced by a newer one while the model was busy."""
        return self._inbox.replaced

    async def _read(self, track: MediaStreamTrack) -> None:
        async for frame in track_frames(track):
            self.frames_in += 1
            self._inbox.put(frame)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while (frame := await self._inbox.take_async()) is not None:
            out = await loop.run_in_executor(self._executor, self._process, frame, self._get_state())
            self.frames_out += 1
            self._output.put(out)
            if self._on_frame_processed is not None:
                self._on_frame_processed()

    def _process(self, frame: VideoFrame, state: ModelState) -> VideoFrame:
        """Worker thread: frame → RGB → model → stamp strip restored → frame."""
        if self._identity:
            return frame
        rgb = frame.to_ndarray(format="rgb24")
        try:
            out = _valid_output(self._model(rgb, state))
        except Exception:
            self.model_errors += 1
            if self.model_errors == 1:
                log.exception("local model failed on a frame (session %s); sending input frames through "
                              "(further failures of this stream are only counted)", state.session_id)
            return frame
        if out is rgb and self._trusted_identity:
            return frame
        if out is not rgb and out.shape == rgb.shape and read_stamp(rgb) is not None:
            sw, sh = stamp_rect(rgb.shape[1], rgb.shape[0])
            if not out.flags.writeable:
                out = out.copy()
            out[:sh, :sw] = rgb[:sh, :sw]
        result = ndarray_to_frame(out)
        result.pts = frame.pts
        result.time_base = frame.time_base
        return result
