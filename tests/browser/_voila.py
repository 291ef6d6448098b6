"""A throwaway Voila server for browser tests: one notebook rendered as an
app at ``/``, its own config and runtime dirs, no token. Voila starts a kernel
and runs the notebook when the page is opened. Stopped, kernels and all, by
``close()``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from _jupyter import free_port, stop_process_group


class Voila:
    def __init__(self, notebook: Path, env: dict[str, str] | None = None) -> None:
        self.notebook = notebook
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = notebook.parent.parent / "voila.log"

    def start(self, timeout: float = 60) -> Voila:
        home = self.notebook.parent.parent
        cfg, runtime = home / "voila-config", home / "voila-runtime"
        for d in (cfg, runtime):
            d.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ, "JUPYTER_CONFIG_DIR": str(cfg), "JUPYTER_RUNTIME_DIR": str(runtime),
            "PYTHONUNBUFFERED": "1", **self._extra_env,
        }
        cmd = [
            sys.executable, "-m", "voila", str(self.notebook), "--no-browser", "--Voila.ip=127.0.0.1",
            f"--port={self.port}", "--Voila.port_retries=0", "--show_tracebacks=True",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voila exited: {self.log_path.read_text()[-2000:]}")
            try:
                # opening "/" would start the notebook's kernel: only check the port listens
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"voila did not start in {timeout} s") from None
                time.sleep(0.2)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_process_group(proc)
        self._log.close()
