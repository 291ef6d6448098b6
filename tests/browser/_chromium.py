"""Shared by the browser tests and bench/bench_browser.py: where Chromium
is, the flags it runs with, and a bounded wait for Python-side conditions."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import Any

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll a Python-side condition with a deadline (for values with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
