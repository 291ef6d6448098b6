"""The widget in Chromium on the fast plain-page host: UI, camera, both
transports, auto fallback, prompt/image round trips, lifecycle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
from _chromium import wait_until

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
    # camera frames reach the kernel at the camera's rate (the fake camera: 20 fps)
    wait_until(lambda: w.camera.frames_read > 10, 15, "camera frames read by the session")
    n0, t0 = w.camera.frames_pushed, time.monotonic()
    time.sleep(2.0)
    rate = (w.camera.frames_pushed - n0) / (time.monotonic() - t0)
    assert rate >= 8, f"camera frames arrive at {rate:.1f}/s over {transport}"
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


OUTPUT_SATURATION_JS = """() => {
  const root = document.querySelector('.dw-root');
  const src = root.dataset.transport === 'comm'
    ? document.querySelector('[data-testid=output-canvas]')
    : document.querySelector('[data-testid=output-video]');
  const c = document.createElement('canvas'); c.width = 64; c.height = 36;
  const g = c.getContext('2d'); g.drawImage(src, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data; let sat = 0;
  for (let i = 0; i < d.length; i += 4) { sat += Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]); }
  return sat / (d.length / 4);
}"""


def root_data(page, key: str) -> str | None:
    return page.evaluate(f"document.querySelector('.dw-root').dataset['{key}'] ?? null")


def test_typed_prompt_reaches_server_and_changes_output(make_widget, show):
    w = make_widget(local_model=None, transport="comm")  # the effects model: prompts change pixels
    page = show(w)
    # the first frames say "waiting for camera" (grey); then the green fake camera
    page.wait_for_function(f"({OUTPUT_SATURATION_JS})() > 40", timeout=15_000)
    before = page.evaluate(OUTPUT_SATURATION_JS)
    server = w.local_server
    mark = server.mark_events()
    page.get_by_test_id("prompt").fill("sketch")
    page.get_by_test_id("prompt").press("Enter")
    ev = server.wait_for_event_sync(lambda e: e["type"] == "prompt" and e.get("prompt") == "sketch", 10, since=mark)
    assert ev["prompt"] == "sketch"
    wait_until(lambda: w.prompt == "sketch", 5, "typed prompt synced to the trait")
    page.wait_for_function(f"({OUTPUT_SATURATION_JS})() < {before / 3}", timeout=15_000)


def test_livekit_link_camera_to_model_and_back(livekit, make_widget, show):
    """Camera -> kernel -> LiveKit room -> local server -> kernel -> browser,
    with the current generation's media link in the kernel."""
    w = make_widget(local_model=None, media="livekit", transport="webrtc", mirror="off")
    page = show(w)
    page.wait_for_function("document.querySelector('.dw-root').dataset.transport === 'webrtc'", timeout=15_000)
    w.wait_for_state("connected", "generating", timeout=30)
    assert w.session is not None and w.session.media == "livekit" and w.local_server.rooms
    wait_until(lambda: w.camera.frames_read > 10, 15, "camera frames read by the session")
    wait_frames_advance(page, 15)
    typed_prompt_changes_the_output(page, w)
    wait_frames_advance(page, 10)
    assert w.stats.get("media") == "livekit"
    assert page.page_errors == []


MIRRORED_JS = """() => ['camera-video', 'output-video', 'output-canvas'].every(
  (id) => document.querySelector(`[data-testid=${id}]`).classList.contains('dw-mirrored'))"""


def test_webrtc_forwards_encoded_frames_both_ways(make_widget, show):
    """The camera opens at the model's size (1280x720), so with nothing in the
    kernel reading pixels the browser's VP8 goes to the model and the model's
    VP8 back to the browser as they arrived: the kernel neither decodes nor
    encodes them. The output still advances and follows a typed prompt, and
    snapshots (which need pixels) still work, after which forwarding resumes."""
    w = make_widget(local_model=None, transport="webrtc")  # mirror="auto": display only
    page = show(w)
    page.wait_for_function("document.querySelector('.dw-root').dataset.transport === 'webrtc'")
    wait_frames_advance(page, 15)
    session = w.session
    assert session is not None and session.media == "webrtc"
    # a selfie view is shown mirrored; the model gets the camera as captured
    assert page.evaluate(MIRRORED_JS) and not session._sender.pump.mirror

    def counts() -> dict:
        s = session.stats()
        return {**{k: s[k] for k in ("frames_forwarded_up", "frames_forwarded_down", "frames_sent",
                                     "frames_received", "frames_decoded_out")},
                **{k: w._link.stats()[k] for k in ("rtc_frames_out", "rtc_frames_forwarded", "rtc_camera_decoded")}}

    wait_until(lambda: counts()["frames_forwarded_up"] > 20 and counts()["frames_forwarded_down"] > 20, 20,
               "forwarding both ways")
    before = counts()
    wait_frames_advance(page, 20)
    after = counts()
    d = {k: after[k] - before[k] for k in before}
    assert d["frames_forwarded_up"] >= 15 and d["frames_forwarded_up"] >= 0.9 * d["frames_sent"], d
    assert d["frames_forwarded_down"] >= 15 and d["rtc_frames_forwarded"] >= 15, d
    # nothing decoded or encoded in the kernel meanwhile (bar one switch)
    assert d["frames_decoded_out"] <= 0.1 * d["frames_received"], d
    assert d["rtc_frames_out"] <= 0.1 * d["rtc_frames_forwarded"] and d["rtc_camera_decoded"] <= 0.1 * d["frames_sent"], d
    wait_until(lambda: w.stats.get("frames_forwarded_up", 0) > 0, 5, "forwarding in the widget's stats")
    typed_prompt_changes_the_output(page, w)
    # pixels on demand: both sides decode for a snapshot, then forward again
    for stream in ("input", "output"):
        # (playwright holds this thread's event loop: await on another thread)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            frame = pool.submit(asyncio.run, session.snapshot(stream)).result(20)
        assert frame.shape == (720, 1280, 3)
    up = counts()["frames_forwarded_up"]
    wait_until(lambda: counts()["frames_forwarded_up"] > up + 15, 15, "forwarding again after the snapshots")
    wait_frames_advance(page, 10)
    assert page.page_errors == []


def test_prompt_typing_is_debounced(make_widget, show):
    w = make_widget(transport="comm")
    page = show(w)
    w.wait_for_state("connected", "generating")  # the local server starts with the first connect
    mark = w.local_server.mark_events()
    page.get_by_test_id("prompt").press_sequentially("neon city", delay=20)
    wait_until(lambda: w.prompt == "neon city", 5, "debounced prompt")
    w.local_server.wait_for_event_sync(lambda e: e["type"] == "prompt" and e.get("prompt") == "neon city", 10, since=mark)
    sent = [e["prompt"] for e in w.local_server.events if e["seq"] > mark and e["type"] == "prompt"]
    assert sent == ["neon city"], f"typing sent intermediate prompts: {sent}"


def test_python_prompt_shows_in_ui_and_reaches_server(make_widget, show):
    w = make_widget(transport="comm")
    page = show(w)
    w.wait_for_state("connected", "generating")  # the local server starts with the first connect
    mark = w.local_server.mark_events()
    w.prompt = "watercolor from python"
    page.wait_for_function("document.querySelector('[data-testid=prompt]').value === 'watercolor from python'")
    w.local_server.wait_for_event_sync(lambda e: e["type"] == "prompt" and e.get("prompt") == "watercolor from python", 10, since=mark)


def test_moderation_rejection_shows_in_banner(make_widget, show):
    w = make_widget(transport="comm")
    page = show(w)
    w.wait_for_state("connected", "generating")
    page.get_by_test_id("prompt").fill("something forbidden-word here")
    page.get_by_test_id("prompt").press("Enter")
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert "content moderation" in banner.inner_text()
    assert w.error is not None and "moderation" in w.error["message"]


def test_reference_image_uploads_with_thumbnail(make_widget, show, tmp_path):
    import cv2
    import numpy as np

    img = np.zeros((120, 160, 3), np.uint8)
    img[:, :80] = (255, 0, 0)
    path = tmp_path / "palette.png"
    cv2.imwrite(str(path), img)
    w = make_widget(transport="comm", prompt="anime")
    page = show(w)
    w.wait_for_state("connected", "generating")
    w.wait_for_state("connected", "generating")  # the local server starts with the first connect
    mark = w.local_server.mark_events()
    page.get_by_test_id("image-input").set_input_files(str(path))
    ev = w.local_server.wait_for_event_sync(lambda e: e["type"] == "set_image" and e.get("has_image"), 10, since=mark)
    assert ev.get("prompt") == "anime"  # prompt and image went together in one set_image
    page.get_by_test_id("image-thumb").wait_for(state="visible")
    wait_until(lambda: w.image_name == "palette.png", 5, "image_name trait")
    page.get_by_test_id("image-clear").click()
    w.local_server.wait_for_event_sync(lambda e: e["type"] == "set_image" and not e.get("has_image"), 10, since=ev["seq"])
    page.get_by_test_id("image-thumb").wait_for(state="hidden")


def test_oversized_image_is_refused_before_upload(make_widget, show, tmp_path):
    w = make_widget(transport="comm")
    page = show(w)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * 1024 * 1024))
    w.wait_for_state("connected", "generating")  # the local server starts with the first connect
    mark = w.local_server.mark_events()
    page.get_by_test_id("image-input").set_input_files(str(big))
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    assert "at most 10 MB" in banner.inner_text()
    assert not [e for e in w.local_server.events if e["seq"] > mark and e["type"] == "set_image"]


def test_status_pill_and_disconnect_stops_camera(make_widget, show):
    w = make_widget(transport="comm", connect=False)
    page = show(w)
    assert root_data(page, "state") == "disconnected"
    page.get_by_test_id("connect").click()
    page.wait_for_function("document.querySelector('.dw-root').dataset.state === 'generating'")
    history = root_data(page, "stateHistory").split(",")
    assert history[:2] == ["disconnected", "connecting"] and history[-1] == "generating", history
    pill = page.get_by_test_id("status")
    assert "dw-pill--generating" in pill.get_attribute("class") and "LIVE" in pill.inner_text()
    page.wait_for_function("document.querySelector('.dw-root').dataset.camera === 'on'")
    page.evaluate("window.__track = document.querySelector('[data-testid=camera-video]').srcObject.getVideoTracks()[0]")
    page.get_by_test_id("connect").click()
    page.wait_for_function("window.__track.readyState === 'ended'")
    page.wait_for_function("document.querySelector('.dw-root').dataset.state === 'disconnected'")
    assert w.session is None and w.active is False


def test_second_view_does_not_open_the_camera(make_widget, show, browser):
    w = make_widget(transport="comm")
    first = show(w)
    first.wait_for_function("document.querySelector('.dw-root').dataset.camera === 'on'")
    ctx = browser.new_context()
    ctx.grant_permissions(["camera"])
    try:
        second = show(w, ctx.new_page())
        second.wait_for_function("document.querySelector('.dw-root').dataset.cameraOwner === 'false'")
        assert second.evaluate("document.querySelector('[data-testid=camera-video]').srcObject") is None
        wait_frames_advance(second, 5)  # it still shows the output
        first.evaluate("window.__host.unmount()")  # the owner goes away: the other view takes over
        second.wait_for_function("document.querySelector('.dw-root').dataset.camera === 'on'")
    finally:
        ctx.close()


def test_render_cleanup_stops_camera_and_peer(make_widget, show):
    w = make_widget(transport="webrtc")
    page = show(w)
    page.wait_for_function("document.querySelector('.dw-root').dataset.transport === 'webrtc'")
    page.evaluate("window.__track = document.querySelector('[data-testid=camera-video]').srcObject.getVideoTracks()[0]")
    page.evaluate("window.__host.unmount()")
    page.wait_for_function("window.__track.readyState === 'ended'")
    wait_until(lambda: not w._link._peers and len(w._link.views) == 0, 10, "kernel peer closed and view gone")
    assert page.page_errors == []


def typed_prompt_changes_the_output(page, w) -> None:
    """The green fake camera comes back through the model (not "waiting for camera"); a prompt typed in the
    page reaches the local server and the output loses its colour (the sketch style)."""
    page.wait_for_function(f"({OUTPUT_SATURATION_JS})() > 40", timeout=15_000)
    before = page.evaluate(OUTPUT_SATURATION_JS)
    mark = w.local_server.mark_events()
    page.get_by_test_id("prompt").fill("sketch")
    page.get_by_test_id("prompt").press("Enter")
    w.local_server.wait_for_event_sync(lambda e: e["type"] == "prompt" and e.get("prompt") == "sketch", 10, since=mark)
    page.wait_for_function(f"({OUTPUT_SATURATION_JS})() < {before / 3}", timeout=15_000)
