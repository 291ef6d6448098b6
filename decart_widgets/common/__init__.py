"""The base the client and the embedded server share, and nothing else.

Both sides import from here (besides :mod:`decart_widgets.protocol`,
:mod:`decart_widgets.models` and :mod:`decart_widgets.errors`); neither
imports the other. Each module is small and has one job:

- :mod:`.rtc`: aiortc peer connections for local peers (loopback ICE, codec
  preference, SDP bitrate hints);
- :mod:`.bitrate`: the pinned, fast VP8 encoder and the default bitrates;
- :mod:`.jitter`: releasing a video frame on its RTP marker bit;
- :mod:`.feedback`: NACK and PLI that do not feed an overload;
- :mod:`.ice`: ICE that ends when its checks do, not at aioice's next tick;
- :mod:`.slot`, :mod:`.fanout`, :mod:`.tasks`, :mod:`.yuv`: the newest-wins
  slot, the fan-out, task ownership, RGB to yuv420p;
- :mod:`.media_loop`: the reference-counted background asyncio loop thread;
- :mod:`.stamp`: the frame counter stamped into test-pattern pixels.
"""
