"""The smoke path every notebook host must pass (Notebook 7, Voila): the
widget renders, the camera plays, the output advances, and a prompt typed in
the UI reaches the local server and changes the picture.

The notebook holds the widget and a status writer: a kernel thread writes
what the kernel sees (state, transport, camera frames, the prompts the server
got) to a JSON file every 0.25 s, and the driver reads that file instead of
waiting inside a cell (a cell that waits would hold the kernel's shell).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The key the hosts' kernels get in their environment: it must never reach the page.
SECRET = "sk-host-smoke-secret-0123456789"

WIDGET_CELL = """\
from decart_widgets import DecartLive
w = DecartLive(server="local", mirror="off")
w"""

STATUS_CELL = """\
import json, os, threading, time
def _write_status(path={path!r}):
    while True:
        srv = w.local_server
        events = srv.events if srv is not None else []
        status = {{
            "state": w.state.value, "prompt": w.prompt, "transport": w.transport_in_use,
            "error": w.error, "camera_frames_read": w.camera.frames_read, "image_name": w.image_name,
            "server_prompts": [e.get("prompt") for e in events if e["type"] in ("prompt", "set_image")],
            "server_images": [e.get("has_image") for e in events if e["type"] == "set_image"],
        }}
        with open(path + ".tmp", "w") as f:
            json.dump(status, f)
        os.replace(path + ".tmp", path)
        time.sleep(0.25)
threading.Thread(target=_write_status, daemon=True, name="test-status").start()"""

SATURATION_JS = """() => {
  const root = document.querySelector('.dw-root');
  const src = root.dataset.transport === 'comm'
    ? root.querySelector('[data-testid=output-canvas]') : root.querySelector('[data-testid=output-video]');
  const c = document.createElement('canvas'); c.width = 64; c.height = 36;
  const g = c.getContext('2d'); g.drawImage(src, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data; let sat = 0;
  for (let i = 0; i < d.length; i += 4) sat += Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]);
  return sat / (d.length / 4);
}"""

FRAMES_SHOWN_JS = "Number(document.querySelector('.dw-root').dataset.framesShown || 0)"


def read_status(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def wait_status(path: Path, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(path)
        if status and predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; kernel status: {status}")
        time.sleep(0.1)


def new_page(browser: Any) -> tuple[Any, Any, list[str]]:
    """A fresh context with camera permission; page errors collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["camera"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def run_smoke_path(page: Any, status_path: Path) -> str:
    """Run the smoke path on a page where the notebook's cells are running;
    returns the transport the widget picked."""
    root = page.locator(".dw-root")
    root.wait_for(timeout=60_000)
    assert page.get_by_test_id("server-note").inner_text() == "local demo model"
    page.wait_for_function("document.querySelector('.dw-root').dataset.state === 'generating'", timeout=30_000)
    assert "LIVE" in page.get_by_test_id("status").inner_text()

    # the camera preview plays
    page.wait_for_function(
        "(() => { const v = document.querySelector('[data-testid=camera-video]');"
        " return v && v.readyState >= 2 && v.currentTime > 0.3; })()"
    )
    # the output advances, over whichever transport auto picked, fed by the camera
    shown = page.evaluate(FRAMES_SHOWN_JS)
    page.wait_for_function(f"{FRAMES_SHOWN_JS} > {shown + 20}", timeout=30_000)
    transport = root.get_attribute("data-transport")
    assert transport in ("webrtc", "comm"), transport
    wait_status(status_path, lambda s: s["camera_frames_read"] > 10 and s["transport"] == transport, 20,
                "camera frames in the kernel")

    # a typed prompt reaches the server and changes the output
    page.wait_for_function(f"({SATURATION_JS})() > 40", timeout=20_000)
    before = page.evaluate(SATURATION_JS)
    page.get_by_test_id("prompt").fill("sketch")
    page.get_by_test_id("prompt").press("Enter")
    wait_status(status_path, lambda s: "sketch" in s["server_prompts"], 15, "the typed prompt at the server")
    page.wait_for_function(f"({SATURATION_JS})() < {before / 3}", timeout=20_000)
    return str(transport)


@contextmanager
def explained(page: Any, status_path: Path, log_path: Path, errors: list[str]) -> Iterator[None]:
    """On failure, add what the page, the kernel and the host's log showed."""
    try:
        yield
    except Exception as exc:
        try:
            widget = page.evaluate(
                "(() => { const r = document.querySelector('.dw-root'); const b = document.querySelector('[data-testid=banner]');"
                " return r ? {...r.dataset, banner: b && !b.hidden ? b.innerText : null} : 'no widget on the page'; })()"
            )
        except Exception as why:  # noqa: BLE001 - the page itself may be gone
            widget = f"page not readable: {why}"
        try:
            log = log_path.read_text(errors="replace")[-3000:]
        except OSError:
            log = "(no log)"
        raise AssertionError(
            f"{exc}\nwidget: {widget}\nkernel status: {read_status(status_path)}\n"
            f"page errors: {errors}\nhost log (tail):\n{log}"
        ) from exc
