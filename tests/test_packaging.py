"""The package as a user gets it: ``python -m build`` makes an sdist and a
wheel (built from the sdist, so the sdist is known to be complete); the
wheel, installed into a fresh virtual environment outside the checkout,
imports from there, carries the widget's ESM and CSS, runs its console
script and installs the Jupyter server extension's config; ``twine check``
passes; the version has one source.

The fresh environment gets only the wheel. Its dependencies (aiortc, PyAV,
OpenCV, Jupyter: hundreds of MB to download afresh) come from the test
environment through a ``.pth`` file, which puts them after the fresh
environment's own site-packages: the wheel's copy of the package wins, and
the tests check that it is the one imported."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _version() -> str:
    text = (ROOT / "decart_widgets" / "_version.py").read_text()
    found = re.findall(r'^__version__ = "([^"]+)"$', text, re.M)
    assert len(found) == 1, "decart_widgets/_version.py must assign __version__ = \"X.Y.Z\" exactly once"
    return str(found[0])


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (hatchling) comes from the test extra
    # instead of a download per run; the build itself is what a user's is.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def fresh(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("fresh")
    assert not home.resolve().is_relative_to(ROOT)
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(dist["wheel"])])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DECART_API_KEY")}
    env.update(JUPYTER_CONFIG_DIR=str(home / "jupyter-config"), HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return {"venv": venv, "python": python, "purelib": purelib, "env": env, "cwd": home}


def test_wheel_imports_from_the_fresh_environment_with_its_assets(fresh: dict[str, Any]) -> None:
    probe = (
        "import json, decart_widgets\n"
        "from decart_widgets import DecartLive, LocalServer, RealtimeSession\n"
        "from decart_widgets.widget._assets import JS_MODULES, asset_dir\n"
        "print(json.dumps({'file': decart_widgets.__file__, 'version': decart_widgets.__version__,\n"
        "  'assets': str(asset_dir()), 'files': sorted(p.name for p in asset_dir().iterdir()),\n"
        "  'modules': list(JS_MODULES), 'esm': DecartLive._esm, 'css': DecartLive._css}))\n"
    )
    out = json.loads(_run([str(fresh["python"]), "-c", probe], cwd=fresh["cwd"], env=fresh["env"]).stdout)
    assert Path(out["file"]).is_relative_to(fresh["purelib"]), out["file"]
    assert out["version"] == _version()
    assert Path(out["assets"]) == fresh["purelib"] / "decart_widgets" / "static"
    assert set(out["modules"]) | {"widget.css"} <= set(out["files"])
    assert "export default" in out["esm"] and "render" in out["esm"]
    assert ".dw-root" in out["css"]


def test_console_script_serves(fresh: dict[str, Any]) -> None:
    script = fresh["venv"] / "bin" / "decart-widgets"
    assert "usage: decart-widgets" in _run([str(script), "--help"], cwd=fresh["cwd"], env=fresh["env"]).stdout
    proc = subprocess.Popen([str(script), "serve", "--port", "0"], cwd=fresh["cwd"], env=fresh["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once listening; EOF if it crashed
        assert "listening at ws://127.0.0.1:" in line, line + proc.stdout.read()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(20) == 0
        finally:
            proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()


def test_jupyter_server_extension_is_enabled(fresh: dict[str, Any]) -> None:
    config = fresh["venv"] / "etc" / "jupyter" / "jupyter_server_config.d" / "decart_widgets.json"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"decart_widgets._jupyter_nodelay": True}}
    }
    listing = _run([str(fresh["python"]), "-m", "jupyter_server", "extension", "list"], cwd=fresh["cwd"], env=fresh["env"])
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    section = text.split(f"Config dir: {config.parent.parent}", 1)[1].split("Config dir:", 1)[0]
    assert re.search(r"decart_widgets\._jupyter_nodelay\s+enabled", section), text
    assert re.search(r"decart_widgets\._jupyter_nodelay\s+OK", section), text


def test_sdist_holds_what_the_wheel_is_built_from(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "decart_widgets/__init__.py",
                   "js/widget.js", "js/widget.css", "jupyter-config/jupyter_server_config.d/decart_widgets.json"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith((".venv/", "node_modules/", "site/", "dist/"))]


def test_wheel_metadata(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = whl.read(meta_name).decode()
        entry_points = whl.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert re.search(rf"^Version: {re.escape(_version())}$", meta, re.M)
    assert "Description-Content-Type: text/markdown" in meta
    assert "decart-widgets = decart_widgets.cli:main" in entry_points
    # the license the metadata declares travels with the wheel, as its terms require
    assert "License :: OSI Approved :: MIT License" in meta
    with zipfile.ZipFile(dist["wheel"]) as whl:
        licenses = [n for n in whl.namelist() if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
        assert licenses and "MIT License" in whl.read(licenses[0]).decode(), licenses
    # the docs toolchain is only an extra; it is never a runtime dependency
    runtime = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not [r for r in runtime if "mkdocs" in r or "pytest" in r], runtime


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    _run([sys.executable, "-m", "twine", "check", "--strict", str(dist["wheel"]), str(dist["sdist"])])


def test_version_has_one_source() -> None:
    version = _version()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M), "pyproject must not repeat the version"
    assert 'path = "decart_widgets/_version.py"' in pyproject
    # nothing else in the package or the widget's JS assigns a version or
    # spells out our user agent's version (it is built from __version__)
    own = re.compile(r"""__version__\s*=|version\s*[:=]\s*["']\d+\.\d+|["']decart-widgets/\d""")
    spelled = [str(p.relative_to(ROOT)) for p in [*(ROOT / "decart_widgets").rglob("*.py"), *(ROOT / "js").glob("*.js")]
               if p.name != "_version.py" and own.search(p.read_text(encoding="utf-8"))]
    assert spelled == []
    # the changelog's newest release is this version
    heading = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert heading and heading.group(1) == version
