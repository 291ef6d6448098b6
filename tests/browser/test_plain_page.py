"""The widget in Chromium on the fast plain-page host: UI, camera, both
transports, auto fallback, prompt/image round trips, lifecycle."""

from __future__ import annotations

import pytest
from conftest import wait_until

pytestmark = pytest.mark.timeout(90)


def frames_shown(page) -> int:
    return int(page.evaluate("Number(document.querySelector('.dw-root').dataset.framesShown || 0)"))


def wait_frames_advance(page, n: int = 10, timeout: float = 20) -> None:
    start = frames_shown(page)
    page.wait_for_function(
        f"Number(document.querySelector('.dw-root').dataset.framesShown || 0) >= {start + n}",
        timeout=timeout * 1000,
    )


@pytest.mark.parametrize("transport", ["webrtc", "comm"])
def test_transport_delivers_frames_both_ways(make_widget, show, transport):
    w = make_widget(transport=transport, mirror="off")
    page = show(w)
    page.wait_for_function(f"document.querySelector('.dw-root').dataset.transport === '{transport}'")
    wait_frames_advance(page, 15)
    assert w.transport_in_use == transport
    # camera frames reached the kernel and fed the model
    wait_until(lambda: w.camera.frames_read > 10, 15, "camera frames read by the session")
    assert page.page_errors == []


def test_auto_falls_back_to_comm_when_webrtc_blocked(make_widget, show):
    w = make_widget(transport="auto", connect=True)
    w._link.block_webrtc = True
    page = show(w)
    page.wait_for_function("document.querySelector('.dw-root').dataset.transport === 'comm'", timeout=15_000)
    wait_frames_advance(page, 10)
    assert w.transport_in_use == "comm"


def test_auto_uses_webrtc_when_reachable(make_widget, show):
    w = make_widget()
    page = show(w)
    page.wait_for_function("document.querySelector('.dw-root').dataset.transport === 'webrtc'", timeout=10_000)
    wait_frames_advance(page, 10)
    assert w.transport_in_use == "webrtc"
