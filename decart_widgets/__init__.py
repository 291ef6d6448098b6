"""decart-widgets: Decart's realtime video models in Jupyter.

``RealtimeSession`` is the kernel-side connection (numpy frames in and out),
``LocalServer`` the embedded Decart-compatible server, ``DecartLive`` the
notebook widget.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    CallbackError,
    DecartError,
    IceError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidInputError,
    ModelNotFoundError,
    ServerError,
    SessionClosedError,
    SignalingError,
    TimeoutError_,
    TokenCreateError,
    WebSocketError,
)
from .media import (
    CameraNotFoundError,
    CameraSource,
    FileSource,
    FrameInfo,
    ImageSource,
    NumpySource,
    Source,
    TestPatternSource,
)
from .media.stats import quality_verdict
from .models import MODELS, ModelDefinition, get_model
from .session import ConnectionState, RealtimeSession
from .tokens import create_client_token

__all__ = [
    "__version__",
    "RealtimeSession",
    "ConnectionState",
    "LocalServer",
    "DecartLive",
    "Source",
    "TestPatternSource",
    "NumpySource",
    "ImageSource",
    "FileSource",
    "CameraSource",
    "CameraNotFoundError",
    "FrameInfo",
    "ModelDefinition",
    "MODELS",
    "get_model",
    "create_client_token",
    "quality_verdict",
    "DecartError",
    "CallbackError",
    "IceError",
    "InvalidAPIKeyError",
    "InvalidBaseURLError",
    "InvalidInputError",
    "ModelNotFoundError",
    "ServerError",
    "SessionClosedError",
    "SignalingError",
    "TimeoutError_",
    "TokenCreateError",
    "WebSocketError",
]


def __getattr__(name: str) -> Any:
    # the server and the widget pull in more (OpenCV effects, anywidget):
    # import them when first used
    if name == "LocalServer":
        from .server import LocalServer

        return LocalServer
    if name == "DecartLive":
        from .widget import DecartLive

        return DecartLive
    raise AttributeError(f"module 'decart_widgets' has no attribute {name!r}")
