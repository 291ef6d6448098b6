"""Shared fixtures. Keep this file import-light: heavy imports go inside the
fixtures so a test module that does not use them does not pay for them."""

from __future__ import annotations

import pytest


@pytest.fixture
async def local_server():
    """A :class:`decart_widgets.server.LocalServer` on the test's own loop,
    passthrough model, ticks every 0.25 s; stopped after the test."""
    from decart_widgets.server import LocalServer

    async with LocalServer(model="passthrough", tick_interval=0.25) as server:
        yield server


@pytest.fixture
def background_server():
    """A :class:`decart_widgets.server.LocalServer` on its own thread (like a
    notebook or the widget uses it), passthrough model; closed after the test."""
    from decart_widgets.server import LocalServer

    with LocalServer(model="passthrough", tick_interval=0.25).start_background() as server:
        yield server


def skip_without_livekit() -> None:
    """Skip where the livekit rtc client has no wheel (the aiortc link still runs there)."""
    from decart_widgets.session._media_choice import livekit_missing

    why = livekit_missing()
    if why is not None:
        pytest.skip(f"media='livekit' cannot run here: {why}")


@pytest.fixture(params=["webrtc", "livekit"])
def media(request):
    """The media link a session test runs over: the legacy aiortc peer
    connection, or the LiveKit room of the current generation."""
    if request.param == "livekit":
        skip_without_livekit()
    return request.param


@pytest.fixture
def livekit():
    """For tests of the LiveKit link alone: skipped where it cannot run."""
    skip_without_livekit()
    return "livekit"


@pytest.fixture
def widgets():
    """Widgets a test makes (tests/_widgets.py), closed after it."""
    made: list = []
    yield made
    for w in made:
        w.close()
