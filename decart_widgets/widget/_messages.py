"""The widget's custom messages between a browser view and the kernel: the
one catalogue. Its JavaScript twin is ``js/messages.js`` (JSDoc typedefs
that ``tsc --checkJs`` holds every send to); a test keeps the two equal.

Browser → kernel: every message has a ``type``; those marked *request*
carry an ``id`` and get exactly one :func:`reply` with that id. Kernel →
browser: ``roles``, ``oframe`` and ``reply`` (see :data:`TO_BROWSER`).
Nothing here ever carries a key.

A widget shows one or two *streams* of frames: ``"output"`` (the model's
frames, every widget) and ``"input"`` (the frames the model is sent, a
``DecartView`` with ``show_input=True``). Messages about output frames name
their stream; where they may leave it out it is ``"output"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message", "TO_KERNEL", "TO_BROWSER", "STREAMS", "reply", "problem", "request_id", "stream_names"]

_NONE = type(None)


@dataclass(frozen=True)
class Message:
    """One browser → kernel message type."""

    #: Its ``type`` on the wire.
    kind: str
    #: What it is for (read by people; the JS typedef repeats it).
    doc: str
    #: Field name -> accepted Python types (``NoneType`` in the tuple: optional).
    fields: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    #: Binary buffers it carries.
    buffers: int = 0
    #: Carries an ``id`` and gets one reply with that id.
    request: bool = False


_VIEW: dict[str, tuple[type, ...]] = {"view": (str,)}

#: The streams of frames a widget can show.
STREAMS = ("output", "input")

TO_KERNEL: dict[str, Message] = {m.kind: m for m in (
    Message("hello", "a view rendered", _VIEW),
    Message("ping", "a view is alive (every 5 s)", _VIEW),
    Message("bye", "a view was removed", _VIEW),
    Message("camera_info", "the camera view's camera opened; which way it faces",
            {**_VIEW, "facing": (str, _NONE)}),
    Message("camera_error", "the camera could not be opened",
            {**_VIEW, "name": (str, _NONE), "message": (str, _NONE)}),
    Message("cframe", "a camera frame as JPEG; the reply frees the browser's slot",
            {"view": (str, _NONE)}, buffers=1, request=True),
    Message("oack", "an output frame was drawn or skipped", {**_VIEW, "id": (int,), "stream": (str, _NONE)}),
    Message("comm_start", "send this view frames of these streams over the comm",
            {**_VIEW, "streams": (list, _NONE)}),
    Message("comm_stop", "stop sending this view output frames over the comm", _VIEW),
    Message("rtc_offer", "a WebRTC offer (candidates inline), one video section per stream in order;"
            " the reply's result is {sdp}",
            {**_VIEW, "sdp": (str,), "streams": (list, _NONE)}, request=True),
    Message("rtc_close", "the view closed its peer connection", _VIEW),
    Message("transport", "the transport the view now uses",
            {**_VIEW, "name": (str, _NONE)}),
    Message("image", "a reference image file", {"name": (str, _NONE)}, buffers=1, request=True),
    Message("image_clear", "remove the reference image", request=True),
)}

#: Kernel → browser messages and their fields.
TO_BROWSER: dict[str, str] = {
    "roles": "{camera_view}: which view owns the camera (sent when views change)",
    "oframe": "{id, stream, counter, w, h} + JPEG: a frame of one stream (comm transport)",
    "reply": "{id, ok, result?, error?}: the answer to one request",
}


def request_id(content: dict[str, Any]) -> int | str | None:
    """The request's id when it is usable (an int, or a string of at most 64 characters)."""
    rid = content.get("id")
    if (isinstance(rid, int) and not isinstance(rid, bool)) or (isinstance(rid, str) and len(rid) <= 64):
        return rid
    return None


def problem(message: Message, content: dict[str, Any]) -> str | None:
    """What is wrong with ``content`` as a ``message``, or None."""
    for name, kinds in message.fields.items():
        value = content.get(name)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            accepted = " or ".join("null" if k is _NONE else str(k.__name__) for k in kinds)
            return f"{message.kind}.{name} must be {accepted}, got {type(value).__name__}"
    if message.request and request_id(content) is None:
        return f"{message.kind} is a request: it needs an id (an int or a short string)"
    return None  # a wrong buffer count is the handler's to answer (with a reply)


def reply(rid: int | str, *, ok: bool = True, result: Any = None, error: str | None = None) -> dict[str, Any]:
    """The one reply shape: ``{"type": "reply", "id", "ok", "result"?, "error"?}``."""
    out: dict[str, Any] = {"type": "reply", "id": rid, "ok": ok}
    if result is not None:
        out["result"] = result
    if error is not None:
        out["error"] = error
    return out


def stream_names(value: Any, offered: Any) -> tuple[str, ...] | None:
    """A message's ``streams`` list as names among ``offered`` (None in the
    message: ``("output",)``); None when it is not a list of those names."""
    if value is None:
        return ("output",)
    if not isinstance(value, list) or not value or len(value) > len(STREAMS):
        return None
    if not all(isinstance(v, str) and v in offered for v in value) or len(set(value)) != len(value):
        return None
    return tuple(value)
