"""A throwaway JupyterLab 4 server for browser tests (docs/development.md):
its own config, settings, workspaces and runtime dirs; no token; news and
update checks off; widget state saved with the notebook (so tests can check
what a saved notebook holds). Stopped, kernels and all, by ``close()``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    #: The server module run with ``python -m``: "jupyterlab", or "notebook"
    #: for Notebook 7 (same server, same flags; its pages live under /notebooks/).
    APP_MODULE = "jupyterlab"

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root.parent / "jupyterlab.log"

    def start(self, timeout: float = 60) -> JupyterLab:
        home = self.root.parent
        cfg, settings, workspaces, runtime = (home / n for n in ("config", "settings", "workspaces", "runtime"))
        for d in (cfg, settings, workspaces, runtime, self.root):
            d.mkdir(parents=True, exist_ok=True)
        manager = settings / "@jupyter-widgets" / "jupyterlab-manager"
        manager.mkdir(parents=True, exist_ok=True)
        (manager / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
        news = settings / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(cfg), "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces), "JUPYTER_RUNTIME_DIR": str(runtime),
            "PYTHONUNBUFFERED": "1", **self._extra_env,
        }
        cmd = [
            sys.executable, "-m", self.APP_MODULE, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
            "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={self.root}",
            "--expose-app-in-browser", "--LabApp.news_url=", "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.base}/api/status", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"jupyter lab did not start in {timeout} s") from None
                time.sleep(0.2)

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.base}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def delete_kernels(self) -> None:
        try:
            for k in self.api("/api/kernels"):
                self.api(f"/api/kernels/{k['id']}", method="DELETE")
        except OSError:
            pass

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self.delete_kernels()
        stop_process_group(proc)
        self._log.close()


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM a server started in its own process group, SIGKILL after 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c} for c in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
