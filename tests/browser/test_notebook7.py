"""The smoke path in Notebook 7 (the classic notebook's successor, built on
JupyterLab's components): open the notebook, run all cells, drive the widget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _jupyter import JupyterLab, write_notebook
from _smoke import SECRET, STATUS_CELL, WIDGET_CELL, explained, new_page, run_smoke_path

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


class Notebook7(JupyterLab):
    APP_MODULE = "notebook"


def test_smoke_path_in_notebook7(browser: Any, tmp_path: Path) -> None:
    status_path = tmp_path / "status.json"
    server = Notebook7(tmp_path / "root", env={"DECART_API_KEY": SECRET}).start()
    write_notebook(server.root / "smoke.ipynb", [WIDGET_CELL, STATUS_CELL.format(path=str(status_path))])
    context, page, errors = new_page(browser)
    try:
        with explained(page, status_path, server.log_path, errors):
            page.goto(f"{server.base}/notebooks/smoke.ipynb", timeout=60_000)
            page.wait_for_function(
                "window.jupyterapp && window.jupyterapp.name === 'Jupyter Notebook'"
                " && window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                timeout=60_000,
            )
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            run_smoke_path(page, status_path)
            assert not [e for e in errors if "decart" in e.lower() or "dw" in e.lower()], errors
    finally:
        context.close()
        server.close()
