"""Chromium + Playwright fixtures for real-browser tests.

Chromium comes from Debian (`make chromium`); Playwright never downloads a
browser here. Without Chromium the tests skip with the reason, except under
``CI=true`` where they fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _chromium import CHROMIUM_FLAGS, chromium_path  # noqa: E402,F401


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)
    # Playwright's sync API keeps an event loop running on the main thread
    # while it is open, which pytest-asyncio tests cannot run under: run the
    # browser tests last (and close Playwright after each module).
    items.sort(key=lambda item: str(item.fspath).startswith(here))


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        reason = "Chromium not found (install it: `make chromium`, i.e. apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: browser tests must run; {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - in the test extra
        if os.environ.get("CI") == "true":
            pytest.fail(f"playwright missing: {exc}")
        pytest.skip(f"playwright missing: {exc}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def page_host() -> Iterator[Any]:
    from _host import PageHost

    with PageHost() as host:
        yield host


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["camera"])
    p = context.new_page()
    p.set_default_timeout(20_000)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.page_errors = errors  # type: ignore[attr-defined]
    try:
        yield p
    finally:
        context.close()


@pytest.fixture
def make_widget(page_host: Any) -> Iterator[Callable[..., Any]]:
    """Construct DecartLive widgets (bridged to the page host); all closed after the test."""
    from decart_widgets.widget import DecartLive

    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("local_model", "passthrough")
        w = DecartLive(**kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def show(page_host: Any, page: Any) -> Callable[..., Any]:
    """Open a widget in the page and wait until it rendered."""

    def show_(widget: Any, p: Any = None) -> Any:
        p = p or page
        p.goto(page_host.url(widget))
        p.wait_for_function("window.__host && window.__host.ready === true")
        return p

    return show_
