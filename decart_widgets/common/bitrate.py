"""Pinning the VP8 bitrate of the senders we create.

aiortc's VP8 encoder starts at 0.5 Mbps and clamps every target to its
constants (max 1.5 Mbps), far below what 720p needs (Decart's JS SDK sends
3.5 Mbps). While :func:`vp8_bitrate` is active in the calling task, senders
started there (their RTP task copies the caller's context) get an encoder
pinned to the given bitrate; receiver estimates no longer move it. Other
peer connections in the process keep aiortc's behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import aiortc.rtcrtpsender
from aiortc.codecs.vpx import Vp8Encoder

__all__ = ["vp8_bitrate", "PinnedVp8Encoder", "DEFAULT_UPSTREAM_BITRATE"]

#: Default upstream bitrate at 1280x720 (bits per second).
DEFAULT_UPSTREAM_BITRATE = 2_500_000

_pinned: ContextVar[int | None] = ContextVar("decart_vp8_bitrate", default=None)
_original_get_encoder = aiortc.rtcrtpsender.get_encoder


#: libvpx options over aiortc's (``cpu-used -6``, denoiser on). Measured by
#: bench/bench_vp8.py at 720p, 2.5 Mbps: encode 9.99 -> 5.89 ms median (0.59x)
#: for 0.44 dB PSNR (28.48 -> 28.04); the encode is most of a session's CPU.
FAST_OPTIONS = {"cpu-used": "-16", "noise-sensitivity": "0"}


class PinnedVp8Encoder(Vp8Encoder):
    """A VP8 encoder whose target bitrate stays where it was set, with
    faster libvpx settings than aiortc's (``fast=False`` keeps aiortc's)."""

    def __init__(self, bitrate: int, fast: bool = True) -> None:
        self._codec = None
        self.applied_options: dict[str, str] = {}
        self._overrides = dict(FAST_OPTIONS) if fast else {}
        super().__init__()
        self._pinned = int(bitrate)
        self._Vp8Encoder__target_bitrate = self._pinned

    # aiortc builds and opens its libvpx context inside encode(); the last
    # reads of ``self.codec`` before it opens are the moment to adjust it
    @property
    def codec(self):
        codec = self._codec
        if codec is not None and self._overrides and not codec.is_open:
            options = dict(codec.options)
            if "cpu-used" in options and any(options.get(k) != v for k, v in self._overrides.items()):
                codec.options = {**options, **self._overrides}
                #: The libvpx options the context was opened with (libvpx
                #: consumes them on open, so they are kept here).
                self.applied_options = dict(codec.options)
        return codec

    @codec.setter
    def codec(self, value) -> None:
        self._codec = value

    @property
    def target_bitrate(self) -> int:
        return self._pinned

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        # receiver estimates (REMB) are ignored: the bitrate is the user's choice
        pass


def _get_encoder(codec):
    bitrate = _pinned.get()
    if bitrate is not None and codec.mimeType.lower() == "video/vp8":
        return PinnedVp8Encoder(bitrate)
    return _original_get_encoder(codec)


aiortc.rtcrtpsender.get_encoder = _get_encoder


@contextlib.contextmanager
def vp8_bitrate(bitrate: int | None) -> Iterator[None]:
    """Pin the VP8 bitrate (bits/s) of senders started inside the block."""
    token = _pinned.set(bitrate)
    try:
        yield
    finally:
        _pinned.reset(token)
