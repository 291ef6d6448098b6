"""The widget's message catalogue: one handler per message, the JS typedefs
equal to the Python table, requests answered once in the one reply shape."""

from __future__ import annotations

import re
from typing import Any

from decart_widgets.widget import _browser_link, _messages
from decart_widgets.widget._assets import asset_dir

_TYPEDEF = re.compile(r"@typedef \{\{type: \"(\w+)\"(.*?)\}\} (\w+)")
_FIELD = re.compile(r"(\w+)\??:")


def _js_messages() -> dict[str, set[str]]:
    text = (asset_dir() / "messages.js").read_text(encoding="utf-8")
    return {kind: set(_FIELD.findall(rest)) for kind, rest, _ in _TYPEDEF.findall(text)}


def test_every_catalogued_message_has_one_handler():
    assert set(_browser_link._HANDLERS) == set(_messages.TO_KERNEL)


def test_the_js_typedefs_are_the_python_catalogue():
    js = _js_messages()
    expected = {kind: set(m.fields) for kind, m in _messages.TO_KERNEL.items()}
    assert {k: v for k, v in js.items() if k in expected} == expected
    assert set(js) == set(expected) | set(_messages.TO_BROWSER)


class _Link:
    """A BrowserLink with recording collaborators."""

    def __init__(self) -> None:
        import concurrent.futures

        from decart_widgets.common.fanout import FanOut
        from decart_widgets.media.browser import BrowserCameraSource

        self.sent: list[dict[str, Any]] = []
        self.images: list[tuple[bytes | None, str]] = []

        def set_image(data: bytes | None, name: str) -> concurrent.futures.Future[Any]:
            self.images.append((data, name))
            fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
            if data == b"rejected":
                fut.set_exception(ValueError("rejected by moderation"))
            else:
                fut.set_result(True)
            return fut

        self.link = _browser_link.BrowserLink(
            lambda content, buffers: self.sent.append(content), BrowserCameraSource(), FanOut(),
            on_transport=lambda name: None, on_camera_error=lambda name, message: None,
            on_views=lambda count: None, on_camera_facing=lambda facing: None, set_image=set_image,
        )

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == "reply"]


def test_requests_get_one_reply_in_one_shape():
    t = _Link()
    t.link.handle({"type": "image", "id": "a", "name": "cat.png"}, [b"png bytes"])
    t.link.handle({"type": "image", "id": "b", "name": "x.png"}, [b"rejected"])
    t.link.handle({"type": "image", "id": "c", "name": "x.png"}, [])
    t.link.handle({"type": "image_clear", "id": 7}, [])
    assert t.replies() == [
        {"type": "reply", "id": "a", "ok": True},
        {"type": "reply", "id": "b", "ok": False, "error": "rejected by moderation"},
        {"type": "reply", "id": "c", "ok": False, "error": "expected one image buffer"},
        {"type": "reply", "id": 7, "ok": True},
    ]
    assert t.images == [(b"png bytes", "cat.png"), (b"rejected", "x.png"), (None, "")]


def test_messages_not_as_the_catalogue_says_are_dropped_and_counted():
    t = _Link()
    bad: list[Any] = [
        None, "text", {"type": 5}, {"type": "__class__"}, {"type": "nope"},
        {"type": "hello"},  # no view
        {"type": "hello", "view": 3},  # view not a string
        {"type": "image_clear"},  # a request without an id
        {"type": "image_clear", "id": True},  # an id must be an int or a string
        {"type": "oack", "view": "v", "id": "not an int"},
    ]
    for content in bad:
        t.link.handle(content, [])
    assert t.link.malformed_messages == len(bad)
    assert t.replies() == [] and t.images == []


def test_a_failing_handler_still_answers_its_request(monkeypatch):
    t = _Link()

    def broken(self: Any, msg: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(_browser_link._HANDLERS, "image_clear", broken)
    t.link.handle({"type": "image_clear", "id": "z"}, [])
    (reply,) = t.replies()
    assert reply["id"] == "z" and not reply["ok"] and "RuntimeError: bug" in reply["error"]
    assert t.link.malformed_messages == 1
