"""The smoke path in Voila: the notebook runs as an app (no code cells on the
page), with a real kernel and comm, the widget's own local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _jupyter import write_notebook
from _smoke import SECRET, STATUS_CELL, WIDGET_CELL, explained, new_page, run_smoke_path
from _voila import Voila

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_smoke_path_in_voila(browser: Any, tmp_path: Path) -> None:
    status_path = tmp_path / "status.json"
    notebook = tmp_path / "app" / "smoke.ipynb"
    notebook.parent.mkdir()
    write_notebook(notebook, [WIDGET_CELL, STATUS_CELL.format(path=str(status_path))])
    voila = Voila(notebook, env={"DECART_API_KEY": SECRET}).start()
    context, page, errors = new_page(browser)
    try:
        with explained(page, status_path, voila.log_path, errors):
            # Voila answers once the notebook has run: a kernel start and the
            # package's imports, slow on a loaded machine
            page.goto(voila.base + "/", timeout=120_000)
            run_smoke_path(page, status_path)
            # Voila shows outputs only: no code, and the key stays in the kernel
            assert page.locator(".jp-InputArea").count() == 0
            assert SECRET not in page.content()
            assert not [e for e in errors if "decart" in e.lower() or "dw" in e.lower()], errors
    finally:
        context.close()
        voila.close()
