"""The ``decart-widgets`` command: help texts, serve (as a user runs it), bad arguments."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest

from decart_widgets.cli import main

CLI = [sys.executable, "-m", "decart_widgets.cli"]


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["demo", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: decart-widgets" in out


def test_non_loopback_serve_without_keys_is_refused(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "valid" in capsys.readouterr().err.lower()


async def test_serve_runs_until_interrupted_and_a_session_connects():
    from decart_widgets import RealtimeSession

    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a server the way a user does
        [*CLI, "serve", "--port", "0", "--model", "passthrough"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        match = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
        assert match, line
        session = await RealtimeSession.connect(base_url=match.group(1))
        frame = await session.snapshot()
        assert frame.shape == (720, 1280, 3)
        session.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("serve did not stop on SIGINT") from None
    assert proc.returncode == 0
