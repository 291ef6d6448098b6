"""The smoke path in real JupyterLab 4: one notebook, the widget's own local
server, a real kernel and comm. The kernel writes what it sees (server
events, traits) to a status file every 0.25 s; the driver reads it instead
of waiting inside a cell."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _jupyter import JupyterLab, write_notebook
from _smoke import STATUS_CELL, run_smoke_path, wait_status

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

SECRET = "sk-smoke-secret-0123456789"

SETUP_CELL = """\
from decart_widgets.widget import DecartLive
w = DecartLive(server="local", connect=False, mirror="off")
w"""

@pytest.fixture(scope="module")
def lab(tmp_path_factory: Any, chromium: str) -> Any:
    home = tmp_path_factory.mktemp("lab")
    server = JupyterLab(home / "root", env={"DECART_API_KEY": SECRET}).start()
    try:
        yield server
    finally:
        server.close()


def execute(page: Any, code: str) -> None:
    """Run code in the notebook's kernel, as a cell would (the kernel is idle)."""
    page.evaluate(
        "async (code) => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
        " const f = k.requestExecute({code, store_history: false}); const r = await f.done;"
        " if (r.content.status !== 'ok') throw new Error(r.content.evalue); }",
        code,
    )


def test_smoke_path_in_jupyterlab(lab: JupyterLab, browser: Any, tmp_path: Path) -> None:
    status_path = tmp_path / "status.json"
    nb_path = lab.root / "smoke.ipynb"
    write_notebook(nb_path, [SETUP_CELL, STATUS_CELL.format(path=str(status_path))])
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["camera"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab.base}/lab/workspaces/smoke/tree/smoke.ipynb")
        page.wait_for_function(
            "window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=60_000,
        )
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        root = page.locator(".dw-root")
        root.wait_for(timeout=60_000)
        wait_status(status_path, lambda s: s.get("state") == "disconnected", 30, "the status writer")
        assert page.get_by_test_id("server-note").inner_text() == "local demo model"

        # connect: the pill passes connecting -> connected/generating
        page.get_by_test_id("connect").click()
        page.wait_for_function("document.querySelector('.dw-root').dataset.state === 'generating'", timeout=30_000)
        history = root.get_attribute("data-state-history").split(",")
        assert "connecting" in history and history.index("connecting") < history.index("generating"), history
        assert "LIVE" in page.get_by_test_id("status").inner_text()

        # the camera plays, the output advances, a typed prompt reaches the server and changes it
        run_smoke_path(page, status_path)

        # a prompt set from Python shows in the UI
        execute(page, "w.prompt = 'neon from python'")
        page.wait_for_function("document.querySelector('[data-testid=prompt]').value === 'neon from python'")
        wait_status(status_path, lambda s: "neon from python" in s["server_prompts"], 15, "the Python prompt at the server")

        # a reference image uploads
        image = tmp_path / "ref.png"
        import cv2
        import numpy as np

        img = np.zeros((90, 120, 3), np.uint8)
        img[:, :60] = (0, 0, 255)
        cv2.imwrite(str(image), img)
        page.get_by_test_id("image-input").set_input_files(str(image))
        wait_status(status_path, lambda s: True in s["server_images"] and s["image_name"] == "ref.png", 15, "the image at the server")
        page.get_by_test_id("image-thumb").wait_for(state="visible")

        # a moderation rejection shows in the banner
        page.get_by_test_id("prompt").fill("a forbidden-word prompt")
        page.get_by_test_id("prompt").press("Enter")
        banner = page.get_by_test_id("banner")
        banner.wait_for(state="visible", timeout=15_000)
        assert "content moderation" in banner.inner_text()

        page.screenshot(path="/tmp/widget_jupyterlab_generating.png")

        # disconnect stops the camera
        page.evaluate("window.__track = document.querySelector('[data-testid=camera-video]').srcObject.getVideoTracks()[0]")
        page.get_by_test_id("connect").click()
        page.wait_for_function("window.__track.readyState === 'ended'")
        wait_status(status_path, lambda s: s["state"] == "disconnected", 15, "the kernel to disconnect")

        # the saved notebook (widget state included) holds no key
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        deadline = time.monotonic() + 15
        while "application/vnd.jupyter.widget-state+json" not in nb_path.read_text():
            assert time.monotonic() < deadline, "the notebook was not saved with widget state"
            time.sleep(0.2)
        saved = nb_path.read_text()
        assert "a forbidden-word prompt" in saved  # the widget state is there (the last typed prompt)...
        assert SECRET not in saved  # ...and the key is not
        assert not [e for e in errors if "decart" in e.lower() or "dw" in e.lower()], errors
    finally:
        context.close()
        lab.delete_kernels()
