"""Making DecartLive widgets in kernel-side tests (closed by the ``widgets`` fixture of conftest.py)."""

from __future__ import annotations

from typing import Any


def make(widgets: list[Any], **kwargs: Any) -> Any:
    """A DecartLive on the passthrough local model unless told otherwise, closed after the test."""
    from decart_widgets.widget import DecartLive

    kwargs.setdefault("local_model", "passthrough")
    w = DecartLive(**kwargs)
    widgets.append(w)
    return w
