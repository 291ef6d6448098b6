"""The notebooks in notebooks/: every one runs headless, top to bottom, in a
real kernel (nbclient) against the embedded local server; every committed
one is clean (no outputs, no execution counts, no saved widget state, no
key). docs/development.md says how to strip a notebook before committing."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
EXPECTED = {"quickstart", "frame-analysis", "reference-image", "recording", "your-own-model", "watch"}
#: Each notebook takes 3-11 s here; the bound only catches a notebook that hangs or crawls.
MAX_SECONDS = 120

# What a key or token looks like where it should never be: a literal passed
# as api_key=, an assignment to DECART_API_KEY, a client token (ek_...), a JWT.
_KEY_PATTERNS = [
    (re.compile(r"api_key\s*=\s*[\"'][^\"'\s]{6,}[\"']"), "an api_key= literal"),
    (re.compile(r"DECART_API_KEY[\"']?\s*\]?\s*[=:]\s*[\"']?[A-Za-z0-9_\-.]{6,}"), "a DECART_API_KEY value"),
    (re.compile(r"\bek_[A-Za-z0-9]{12,}"), "a client token key (ek_...)"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JWT"),
]


def notebook_problems(text: str, secrets: tuple[str, ...] = ()) -> list[str]:
    """What makes a notebook unfit to commit; empty when it is clean."""
    nb = json.loads(text)
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has an execution count")
    if "widgets" in nb.get("metadata", {}):
        problems.append("saved widget state in the notebook metadata")
    strings = list(_strings(nb))
    for pattern, what in _KEY_PATTERNS:
        if any(pattern.search(s) for s in strings):
            problems.append(f"holds {what}")
    problems += ["holds the value of $DECART_API_KEY" for k in secrets if k and any(k in s for s in strings)]
    return problems


def _strings(value: Any) -> Any:
    """Every string in the notebook's JSON (sources, outputs, metadata), decoded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            yield "".join(value)  # multi-line sources are lists of lines
        else:
            for v in value:
                yield from _strings(v)


def test_every_notebook_is_there() -> None:
    assert {p.stem for p in PATHS} >= EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path: Path) -> None:
    secrets = tuple(v for v in (os.environ.get("DECART_API_KEY"),) if v)
    assert notebook_problems(path.read_text(encoding="utf-8"), secrets) == []


def test_clean_check_finds_outputs_state_and_keys() -> None:
    cell = {"cell_type": "code", "metadata": {}, "source": "x", "execution_count": 3,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}]}
    nb = {"cells": [cell], "metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5}
    assert notebook_problems(json.dumps(nb)) == [
        "cell 0 has outputs", "cell 0 has an execution count", "saved widget state in the notebook metadata",
    ]
    for source, what in [
        ('DecartLive(api_key="dk-0123456789")', "an api_key= literal"),
        ("%env DECART_API_KEY=dk-0123456789", "a DECART_API_KEY value"),
        ('os.environ["DECART_API_KEY"] = "dk-0123456789"', "a DECART_API_KEY value"),
        ("token = 'ek_abcdefghijklmnop'", "a client token key (ek_...)"),
        ("t = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyMSJ9.c2lnbmF0dXJlMTIz'", "a JWT"),
    ]:
        clean = {"cells": [{"cell_type": "code", "metadata": {}, "source": source, "execution_count": None,
                            "outputs": []}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        assert notebook_problems(json.dumps(clean)) == [f"holds {what}"], source
    # the placeholder the docs use, and reading the key from the environment, are fine
    fine = 'DecartLive(api_key=os.environ["DECART_API_KEY"]); DecartLive(api_key="...")'
    ok = {"cells": [{"cell_type": "code", "metadata": {}, "source": fine, "execution_count": None, "outputs": []}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert notebook_problems(json.dumps(ok)) == []
    assert notebook_problems(json.dumps(ok), secrets=("os.environ",)) == ["holds the value of $DECART_API_KEY"]


@pytest.mark.slow
@pytest.mark.timeout(MAX_SECONDS + 60)
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Top to bottom in a fresh kernel, files written to a temporary folder;
    no key in the environment, so every widget and session uses the local server."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("DECART_API_KEY", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=MAX_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.monotonic()
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
    elapsed = time.monotonic() - t0
    assert elapsed < MAX_SECONDS, f"{path.name} took {elapsed:.0f} s"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    warnings = [_text(o) for c in nb.cells for o in c.get("outputs", [])
                if o.get("name") == "stderr" and "Warning" in _text(o)]
    assert warnings == [], f"{path.name} printed warnings: {warnings}"


def _text(output: Any) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)
