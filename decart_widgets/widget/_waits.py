"""Blocking waits on a widget's traits, for notebook cells and tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["wait_for_state"]


def wait_for_state(widget: Any, states: Iterable[str], timeout: float) -> str:
    """Block until ``widget.state`` (a ``ConnectionState`` trait) is one of
    ``states``; returns it, or raises ``TimeoutError`` after ``timeout`` seconds."""
    done = threading.Event()
    wanted = {str(s) for s in states}

    def check(_: Any = None) -> None:
        if widget.state.value in wanted:
            done.set()

    widget.observe(check, "state")
    try:
        check()
        if not done.wait(timeout):
            raise TimeoutError(f"state is {widget.state.value}, not {sorted(wanted)}, after {timeout} s")
    finally:
        widget.unobserve(check, "state")
    return str(widget.state.value)
