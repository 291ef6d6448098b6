"""One exception root with a subclass per condition, each carrying the
error ``code`` of docs/protocol.md section 7."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = [
    "DecartError",
    "InvalidAPIKeyError",
    "InvalidBaseURLError",
    "InvalidInputError",
    "ModelNotFoundError",
    "TokenCreateError",
    "WebSocketError",
    "IceError",
    "DecartTimeoutError",
    "ServerError",
    "SignalingError",
    "SessionClosedError",
    "CallbackError",
    "MediaUnavailableError",
    "is_permanent_error",
]


class DecartError(Exception):
    """Root of every error this package raises on purpose."""

    code: str = "DECART_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class InvalidAPIKeyError(DecartError):
    code = "INVALID_API_KEY"


class InvalidBaseURLError(DecartError):
    code = "INVALID_BASE_URL"


class InvalidInputError(DecartError, ValueError):
    code = "INVALID_INPUT"


class ModelNotFoundError(DecartError, LookupError):
    code = "MODEL_NOT_FOUND"


class TokenCreateError(DecartError):
    code = "TOKEN_CREATE_ERROR"


class WebSocketError(DecartError, ConnectionError):
    code = "WEBRTC_WEBSOCKET_ERROR"


class IceError(DecartError, ConnectionError):
    code = "WEBRTC_ICE_ERROR"


class DecartTimeoutError(DecartError, TimeoutError):
    """A phase did not finish in time; ``phase`` names it (``"connect"``,
    ``"prompt_ack"``, ``"room_info"``, ``"frame"``, ...)."""

    code = "WEBRTC_TIMEOUT_ERROR"

    def __init__(self, message: str, *, phase: str) -> None:
        super().__init__(message)
        self.phase = phase


class ServerError(DecartError):
    """An ``error`` message sent by the server, or a rejected request."""

    code = "WEBRTC_SERVER_ERROR"


class SignalingError(DecartError):
    code = "WEBRTC_SIGNALING_ERROR"


class CallbackError(DecartError):
    """A user callback (frame tap or input transform) raised; media went on."""

    code = "CALLBACK_ERROR"


class MediaUnavailableError(DecartError, ImportError):
    """The requested media link cannot run here (its client library is missing)."""

    code = "MEDIA_UNAVAILABLE"


class SessionClosedError(DecartError, RuntimeError):
    """The session was disconnected; it is final, create a new one."""

    code = "WEBRTC_SIGNALING_ERROR"


_PERMANENT_MARKERS = (
    "permission denied",
    "not allowed",
    "invalid session",
    "401",
    "invalid api key",
    "unauthorized",
)


def is_permanent_error(text: str) -> bool:
    """True for errors that a reconnect cannot fix (docs/protocol.md section 5)."""
    lowered = text.lower()
    return any(marker in lowered for marker in _PERMANENT_MARKERS)


def __getattr__(name: str) -> Any:
    # the old name, kept so existing code keeps working
    if name == "TimeoutError_":
        warnings.warn(
            "decart_widgets.errors.TimeoutError_ is deprecated; use DecartTimeoutError",
            DeprecationWarning,
            stacklevel=2,
        )
        return DecartTimeoutError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
