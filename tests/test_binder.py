"""binder/: what Binder (repo2docker) builds is what the tests run. Its
requirements parse and are met by the test environment (the notebooks,
the JupyterLab/Notebook 7/Voila browser tests run on exactly those), its
Python is one the package supports, and postBuild installs this checkout.
That the quickstart runs offline on the local server is
tests/test_notebooks.py; the Binder build itself cannot run here."""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _requirements() -> list[Requirement]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]


def test_requirements_are_met_by_the_test_environment() -> None:
    reqs = _requirements()
    assert {r.name for r in reqs} >= {"jupyterlab", "voila"}
    for req in reqs:
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} does not meet {req}"


def test_runtime_is_a_supported_python() -> None:
    match = re.fullmatch(r"python-(\d+)\.(\d+)\s*", (BINDER / "runtime.txt").read_text())
    assert match, "binder/runtime.txt must read python-X.Y"
    requires = re.search(r'^requires-python = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert requires
    assert SpecifierSet(requires.group(1)).contains(f"{match.group(1)}.{match.group(2)}.0")


def test_post_build_installs_this_checkout() -> None:
    script = BINDER / "postBuild"
    assert os.access(script, os.X_OK), "binder/postBuild must be executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    commands = [line for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "set -euo pipefail" in commands
    assert any(re.fullmatch(r"python -m pip install (--no-cache-dir )?\.", c.strip()) for c in commands), commands


def test_notebooks_need_nothing_beyond_binder() -> None:
    """Every module the notebooks import comes with Python, the package and
    its dependencies (numpy, cv2, av), Jupyter (IPython) or
    binder/requirements.txt (matplotlib); torch is guarded in its notebook."""
    allowed = {"asyncio", "time", "pathlib", "json", "os", "decart_widgets", "numpy", "cv2", "av",
               "matplotlib", "IPython", "torch"}
    imported = set()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                src = "".join(cell["source"])
                imported |= {m.split(".")[0] for m in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", src, re.M)}
    assert imported <= allowed, imported - allowed
