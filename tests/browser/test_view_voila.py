"""DecartView in Voila (a real kernel and comm): a headless session's output
and input advance, and the pill follows the session to disconnected when the
notebook's kernel ends it. The kernel writes what it sees to a status file
and ends the session when the driver creates a stop file, so no cell waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _jupyter import write_notebook
from _smoke import SECRET, explained, new_page, wait_status
from _voila import Voila

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

VIEW_CELL = """\
from decart_widgets import DecartView, LocalServer, RealtimeSession
server = LocalServer().start_background()
session = await RealtimeSession.connect("lucy-2.1", base_url=server.url, initial_state={"prompt": {"text": "sketch"}})
view = DecartView(session, show_input=True)
view"""

STATUS_CELL = """\
import json, os, threading, time
def _write_status(path={path!r}, stop={stop!r}):
    while True:
        if os.path.exists(stop) and session.is_connected():
            session.disconnect()
        status = {{"state": view.state.value, "transport": view.transport_in_use, "ended": view.ended,
                   "views": len(view._link.views)}}
        with open(path + ".tmp", "w") as f:
            json.dump(status, f)
        os.replace(path + ".tmp", path)
        time.sleep(0.25)
threading.Thread(target=_write_status, daemon=True, name="test-status").start()"""

ROOT = "document.querySelector('.dw-root')"


def test_view_in_voila(browser: Any, tmp_path: Path) -> None:
    status_path, stop_path = tmp_path / "status.json", tmp_path / "stop"
    notebook = tmp_path / "app" / "view.ipynb"
    notebook.parent.mkdir()
    write_notebook(notebook, [VIEW_CELL, STATUS_CELL.format(path=str(status_path), stop=str(stop_path))])
    voila = Voila(notebook, env={"DECART_API_KEY": SECRET}).start()
    context, page, errors = new_page(browser)
    try:
        with explained(page, status_path, voila.log_path, errors):
            page.goto(voila.base + "/", timeout=120_000)  # Voila answers once the notebook has run
            page.locator(".dw-root").wait_for(timeout=60_000)
            page.wait_for_function(f"{ROOT}.dataset.state === 'generating'", timeout=30_000)
            page.wait_for_function(f"Number({ROOT}.dataset.framesShown || 0) > 20", timeout=30_000)
            page.wait_for_function(f"Number({ROOT}.dataset.inputFramesShown || 0) > 20", timeout=30_000)
            transport = page.locator(".dw-root").get_attribute("data-transport")
            assert transport in ("webrtc", "comm"), transport
            wait_status(status_path, lambda s: s["transport"] == transport and s["views"] == 1, 20,
                        "the kernel to see the view and its transport")
            assert page.get_by_test_id("camera-video").count() == 0 and page.get_by_test_id("prompt").count() == 0
            page.screenshot(path="/tmp/view_voila_generating.png")

            stop_path.touch()  # the kernel ends the session
            page.wait_for_function(f"{ROOT}.dataset.state === 'disconnected'", timeout=20_000)
            page.wait_for_function(f"{ROOT}.dataset.transport === ''")
            assert "The session ended" in page.locator(".dw-placeholder").first.inner_text()
            wait_status(status_path, lambda s: s["ended"] and s["transport"] is None, 15, "the view to let go")
            page.screenshot(path="/tmp/view_voila_ended.png")
            assert SECRET not in page.content()
            assert not [e for e in errors if "decart" in e.lower() or "dw" in e.lower()], errors
    finally:
        context.close()
        voila.close()
