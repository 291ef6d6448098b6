"""DecartView in Chromium on the fast plain-page host: it renders without a
camera or prompt controls, the output (and the input, when asked) advances
over both transports for headless and watched sessions, the status pill
follows the session to disconnected, and views leave nothing behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _chromium import wait_until

pytestmark = pytest.mark.timeout(90)

SHOTS = "/tmp"  # screenshots to look at by hand (tests check pixels themselves)

ROOT = "document.querySelector('.dw-root')"


def run(coro: Any) -> Any:
    """Await ``coro`` (a session connect) from here: Playwright's sync API
    keeps an event loop running on this thread, so on a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


def data(page: Any, key: str) -> Any:
    return page.evaluate(f"{ROOT}.dataset['{key}'] ?? null")


def wait_shown(page: Any, key: str = "framesShown", n: int = 10, timeout: float = 20) -> None:
    start = int(data(page, key) or 0)
    page.wait_for_function(f"Number({ROOT}.dataset.{key} || 0) >= {start + n}", timeout=timeout * 1000)


def saturation(page: Any, testid: str) -> float:
    """Mean colourfulness (max - min channel) of an element as the page shows it."""
    import cv2
    import numpy as np

    png = page.get_by_test_id(testid).screenshot()
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return float((bgr.max(axis=2).astype(int) - bgr.min(axis=2)).mean())


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """The effects model: "sketch" turns the colourful test pattern grey."""
    from decart_widgets.server import LocalServer

    with LocalServer(tick_interval=0.25).start_background() as s:
        yield s


@pytest.fixture
def sessions(server: Any) -> Iterator[Callable[..., Any]]:
    """Headless sessions (the test pattern, prompt "sketch"); disconnected after the test."""
    from decart_widgets import RealtimeSession

    made: list[Any] = []

    def connect(**kwargs: Any) -> Any:
        kwargs.setdefault("initial_state", {"prompt": {"text": "sketch"}})
        s = run(RealtimeSession.connect("lucy-2.1", base_url=server.url, **kwargs))
        made.append(s)
        return s

    yield connect
    for s in made:
        s.disconnect()


@pytest.fixture
def make_view(page_host: Any) -> Iterator[Callable[..., Any]]:
    from decart_widgets import DecartView

    made: list[Any] = []

    def make(session: Any, **kwargs: Any) -> Any:
        v = DecartView(session, **kwargs)
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()


@pytest.mark.parametrize("transport", ["webrtc", "comm"])
def test_view_shows_output_and_input(sessions, make_view, show, transport):
    s = sessions()
    v = make_view(s, show_input=True, transport=transport)
    page = show(v)
    page.wait_for_function(f"{ROOT}.dataset.transport === '{transport}'", timeout=15_000)
    wait_shown(page, "framesShown", 15)
    wait_shown(page, "inputFramesShown", 15)
    assert data(page, "state") == "generating" and "LIVE" in page.get_by_test_id("status").inner_text()
    # no camera, no prompt, no model picker, no Connect button
    for testid in ("camera-video", "prompt", "connect", "image-input"):
        assert page.get_by_test_id(testid).count() == 0, testid
    assert page.evaluate("document.querySelectorAll('select').length") == 0
    # input (the colourful test pattern) left, output (the sketch effect) right
    shown = "video" if transport == "webrtc" else "canvas"
    wait_until(lambda: saturation(page, f"input-{shown}") > 40, 15, "the colourful input")
    wait_until(lambda: saturation(page, f"output-{shown}") < saturation(page, f"input-{shown}") / 3, 15,
               "the grey output beside it")
    wait_until(lambda: v.transport_in_use == transport, 10, "the transport trait")
    page.wait_for_function(f"document.querySelector('[data-testid=stats]').innerText.includes('{transport}')")
    assert page.get_by_test_id("view-note").inner_text() == "session · lucy-2.1"
    page.screenshot(path=f"{SHOTS}/view_plain_{transport}_input.png")
    assert page.page_errors == []


def test_auto_uses_webrtc_and_falls_back_to_comm(sessions, make_view, show, browser):
    s = sessions()
    v = make_view(s)
    page = show(v)
    page.wait_for_function(f"{ROOT}.dataset.transport === 'webrtc'", timeout=15_000)
    wait_shown(page)
    assert page.get_by_test_id("input-panel").count() == 0  # output only
    blocked = make_view(s)
    blocked._link.block_webrtc = True
    ctx = browser.new_context()
    try:
        second = show(blocked, ctx.new_page())
        second.wait_for_function(f"{ROOT}.dataset.transport === 'comm'", timeout=20_000)
        wait_shown(second)
    finally:
        ctx.close()


def test_watched_session(server, sessions, make_view, show):
    from decart_widgets import RealtimeSession

    s = sessions()
    watcher = run(RealtimeSession.subscribe(s.subscribe_token, base_url=server.url))
    try:
        v = make_view(watcher, transport="comm")
        page = show(v)
        wait_shown(page, n=15)
        assert page.get_by_test_id("view-note").inner_text() == "watching a session"
        page.screenshot(path=f"{SHOTS}/view_plain_watched.png")
    finally:
        watcher.disconnect()
    # the watcher ended: the view says so and lets go
    page.wait_for_function(f"{ROOT}.dataset.state === 'disconnected'", timeout=15_000)
    wait_until(lambda: v.ended, 10, "the view to let go")


@pytest.mark.parametrize("transport", ["webrtc", "comm"])
def test_pill_follows_the_session_to_disconnected(sessions, make_view, show, transport):
    s = sessions()
    v = make_view(s, transport=transport)
    page = show(v)
    wait_shown(page)
    s.disconnect()
    page.wait_for_function(f"{ROOT}.dataset.state === 'disconnected'", timeout=15_000)
    history = data(page, "stateHistory").split(",")
    assert history[-2:] == ["generating", "disconnected"], history
    page.wait_for_function(f"{ROOT}.dataset.transport === ''")
    assert "The session ended" in page.locator(".dw-placeholder").first.inner_text()
    assert page.get_by_test_id("banner").is_hidden()  # ended by its owner: no error
    wait_until(lambda: v.ended and v._link.peer_count == 0, 10, "the view to let go")
    shown = int(data(page, "framesShown"))
    page.wait_for_timeout(500)
    assert int(data(page, "framesShown")) == shown  # nothing more arrives
    page.screenshot(path=f"{SHOTS}/view_plain_ended_{transport}.png")
    assert page.page_errors == []


def test_session_dropped_shows_the_error(server, sessions, make_view, show):
    s = sessions(reconnect=False)
    v = make_view(s, transport="comm")
    page = show(v)
    wait_shown(page)
    server.drop_streams()
    page.wait_for_function(f"{ROOT}.dataset.state === 'disconnected'", timeout=15_000)
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    assert v.error is not None and v.error["message"] in banner.inner_text()
    assert "with an error" in page.locator(".dw-placeholder").first.inner_text()


def test_two_views_of_one_session_and_cleanup(sessions, make_view, show, browser):
    """Two widgets on one session, one shown twice: each view streams; a view
    unmounted closes its peer; a widget closed leaves the other streaming."""
    s = sessions()
    a, b = make_view(s, transport="webrtc"), make_view(s, transport="comm")
    page_a = show(a)
    ctx = browser.new_context()
    try:
        page_b = show(b, ctx.new_page())
        page_a2 = show(a, ctx.new_page())
        for p in (page_a, page_b, page_a2):
            wait_shown(p)
        wait_until(lambda: a._link.peer_count == 2 and len(a._link.views) == 2, 10, "two peers for a's two views")
        page_a2.evaluate("window.__host.unmount()")
        wait_until(lambda: a._link.peer_count == 1 and len(a._link.views) == 1, 10, "the unmounted view's peer closed")
        a.close()
        wait_shown(page_b)  # b goes on
        assert a.ended and not b.ended and s.is_connected()
    finally:
        ctx.close()


def test_view_forwards_the_output_of_an_aiortc_session(sessions, make_view, show):
    """Over the aiortc media link a view's WebRTC output is the model server's
    VP8 as it arrived: Chromium shows it (the sketch, grey) while the session
    decodes none of it; the input beside it is encoded in the kernel."""
    s = sessions(media="webrtc")
    v = make_view(s, show_input=True, transport="webrtc")
    page = show(v)
    page.wait_for_function(f"{ROOT}.dataset.transport === 'webrtc'", timeout=15_000)
    wait_shown(page, "framesShown", 15)

    def counts() -> dict[str, int]:
        st, link = s.stats(), v._link.stats()
        return {"decoded": st["frames_decoded_out"], "received": st["frames_received"],
                "forwarded": link["rtc_frames_forwarded"], "input_encoded": link["rtc_input_frames_out"]}

    wait_until(lambda: counts()["forwarded"] > 15, 20, "output frames forwarded to the browser")
    wait_until(lambda: set(v._feed.taps) == {"input"}, 10, "no output relay (nothing decodes the output)")
    page.wait_for_timeout(500)  # a frame decoding as the relay went
    before = counts()
    wait_shown(page, "framesShown", 20)
    wait_shown(page, "inputFramesShown", 10)
    after = counts()
    assert after["decoded"] == before["decoded"] and after["received"] > before["received"], (before, after)
    assert after["forwarded"] >= before["forwarded"] + 15 and after["input_encoded"] > before["input_encoded"]
    wait_until(lambda: saturation(page, "input-video") > 40, 15, "the colourful input")
    wait_until(lambda: saturation(page, "output-video") < saturation(page, "input-video") / 3, 15,
               "the grey output, forwarded, beside it")
    page.screenshot(path=f"{SHOTS}/view_plain_forwarded.png")
    assert page.page_errors == []
