"""decart-widgets: Decart's realtime video models in Jupyter.

``RealtimeSession`` is the kernel-side connection (numpy frames in and out),
``LocalServer`` the embedded Decart-compatible server, ``DecartLive`` the
notebook widget and ``DecartView`` a view-only widget for any session.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    CallbackError,
    DecartError,
    DecartTimeoutError,
    IceError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidInputError,
    MediaUnavailableError,
    ModelNotFoundError,
    ServerError,
    SessionClosedError,
    SignalingError,
    TokenCreateError,
    WebSocketError,
)
from .models import MODELS, ModelDefinition, get_model

# Heavy modules (aiortc, PyAV, OpenCV, anywidget) load on first use, so that
# `import decart_widgets` and the Jupyter server extension stay cheap.
_LAZY = {
    "RealtimeSession": ".session",
    "ConnectionState": ".session",
    "LocalServer": ".server",
    "DecartLive": ".widget",
    "DecartView": ".widget",
    "Source": ".media.sources",
    "TestPatternSource": ".media.sources",
    "NumpySource": ".media.numpy_source",
    "ImageSource": ".media.image_source",
    "FileSource": ".media.file_source",
    "CameraSource": ".media.camera_source",
    "CameraNotFoundError": ".media.camera_source",
    "FrameInfo": ".media.taps",
    "quality_verdict": ".media.stats",
    "create_client_token": ".tokens",
}

__all__ = [
    "__version__",
    "RealtimeSession",
    "ConnectionState",
    "LocalServer",
    "DecartLive",
    "DecartView",
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
    "MediaUnavailableError",
    "ModelNotFoundError",
    "ServerError",
    "SessionClosedError",
    "SignalingError",
    "DecartTimeoutError",
    "TokenCreateError",
    "WebSocketError",
]


def __getattr__(name: str) -> Any:
    if name == "TimeoutError_":  # the old name, kept so existing code keeps working
        import warnings

        warnings.warn("TimeoutError_ is deprecated; use DecartTimeoutError", DeprecationWarning, stacklevel=2)
        return DecartTimeoutError
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'decart_widgets' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# In a notebook, the first connect() would pay for imports, codec start-up and
# the test pattern; do that on a background thread while the user types.
from . import _warmup  # noqa: E402

if _warmup.in_jupyter_kernel():
    _warmup.warmup.start()
