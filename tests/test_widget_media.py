"""DecartLive's media link: ``media=``, the queue shown while connecting,
and disconnect() while the connect still runs (over both links)."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


def make(widgets: list[Any], **kwargs: Any) -> Any:
    """A DecartLive with exactly these arguments (closed by conftest's ``widgets``)."""
    from decart_widgets.widget import DecartLive

    w = DecartLive(**kwargs)
    widgets.append(w)
    return w


def test_media_is_checked_and_synced(widgets):
    from decart_widgets.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="media must be one of"):
        make(widgets, media="pigeon", connect=False)
    w = make(widgets, media="webrtc", connect=False)
    assert w.get_state()["media"] == "webrtc" and w.get_state()["queue"] == ""


def test_the_queue_shows_while_connecting_then_clears(media, widgets, background_server):
    background_server.faults.queue_positions = 3
    background_server.faults.queue_step_ms = 300
    w = make(widgets, server=background_server.url, media=media, connect=False)
    seen: list[tuple[str, str]] = []
    w.observe(lambda change: seen.append((change["new"], w.state.value)), "queue")
    w.connect(wait=True, timeout=30)
    assert [q for q, _ in seen] == ["queued: 3 of 3", "queued: 2 of 3", "queued: 1 of 3", ""]
    assert all(state == "connecting" for q, state in seen if q)
    assert w.session is not None and w.session.media == media
    deadline = time.monotonic() + 10
    while w.stats.get("media") != media and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w.stats.get("media") == media


def test_disconnect_while_connecting_returns_at_once(media, widgets, background_server):
    background_server.faults.queue_positions = 50
    background_server.faults.queue_step_ms = 200
    w = make(widgets, server=background_server.url, media=media, connect=False)
    w.connect(wait=False)
    deadline = time.monotonic() + 10
    while not w.queue and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.queue.startswith("queued: ") and w.state.value == "connecting"
    t0 = time.monotonic()
    w.disconnect()
    assert time.monotonic() - t0 < 5
    assert w.wait_for_state("disconnected", timeout=5) == "disconnected"
    assert w.session is None and w.queue == ""
    deadline = time.monotonic() + 10
    while background_server.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not background_server.streams
