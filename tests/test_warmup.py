"""The first-connect warm-up: runs once on its own thread, joined by its
owner, never breaks the package, and only starts by itself in a kernel."""

from __future__ import annotations

import subprocess
import sys
import threading

from decart_widgets import _warmup
from decart_widgets._warmup import Warmup, in_jupyter_kernel


def test_runs_every_step_once_and_is_joined(monkeypatch):
    calls = []
    monkeypatch.setattr(_warmup, "STEPS", (("a", lambda: calls.append("a")), ("b", lambda: calls.append("b"))))
    w = Warmup()
    assert w.wait() and not w.started  # nothing to wait for
    w.start()
    w.start()
    assert w.wait(10)
    assert calls == ["a", "b"] and set(w.timings) == {"a", "b"}
    assert not any(t.name == "decart-warmup" and t.is_alive() for t in threading.enumerate())


def test_a_failing_step_is_logged_and_the_rest_run(monkeypatch, caplog):
    calls = []

    def boom():
        raise RuntimeError("no codec here")

    monkeypatch.setattr(_warmup, "STEPS", (("boom", boom), ("after", lambda: calls.append(1))))
    w = Warmup()
    w.start()
    assert w.wait(10)
    assert calls == [1]
    assert "warm-up step 'boom' failed" in caplog.text


def test_the_real_steps_run_cleanly(caplog):
    w = Warmup()
    w.start()
    assert w.wait(60)
    assert set(w.timings) == {name for name, _ in _warmup.STEPS}
    assert "failed" not in caplog.text


def test_not_in_a_kernel_here():
    assert not in_jupyter_kernel()


def test_plain_import_starts_no_thread_and_stays_light():
    code = (
        "import sys, threading, decart_widgets; "
        "assert not any(t.name == 'decart-warmup' for t in threading.enumerate()); "
        "heavy = {'aiortc', 'av', 'cv2'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
