"""Realtime model definitions (docs/protocol.md section 9). No network code."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .errors import InvalidInputError, ModelNotFoundError

__all__ = ["ModelDefinition", "MODELS", "get_model", "model_names", "realtime_model_names"]


@dataclass(frozen=True)
class ModelDefinition:
    """A realtime model: its wire name, frame rate, frame size and URL path."""

    name: str
    fps: int
    width: int
    height: int
    url_path: str = "/v1/stream"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(f"model name must be a non-empty string, got {self.name!r}")
        for field in ("fps", "width", "height"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInputError(f"model {field} must be a positive int, got {value!r}")
        if self.width % 2 or self.height % 2:
            raise InvalidInputError(
                f"model size must be even for yuv420p video, got {self.width}x{self.height}"
            )
        if not self.url_path.startswith("/"):
            raise InvalidInputError(f"url_path must start with '/', got {self.url_path!r}")


def _m(name: str, fps: int, width: int, height: int) -> ModelDefinition:
    return ModelDefinition(name=name, fps=fps, width=width, height=height)


#: The production realtime registry, by wire name.
MODELS: dict[str, ModelDefinition] = {
    m.name: m
    for m in (
        _m("lucy-2.1", 30, 1280, 720),
        _m("lucy-2.5", 30, 1280, 720),
        _m("lucy-2.6", 30, 1280, 720),
        _m("lucy-latest", 30, 1280, 720),
        _m("lucy-restyle-2", 30, 1280, 704),
        _m("lucy-restyle-latest", 30, 1280, 704),
        _m("lucy-vton-3.5", 30, 1280, 720),
        _m("lucy-vton-3.6", 30, 1280, 720),
        _m("lucy-vton-latest", 30, 1280, 720),
    )
}

#: Names the legacy official clients use (docs/protocol.md section 11). A server
#: accepts them; the client does not offer them.
LEGACY_MODELS: dict[str, ModelDefinition] = {
    m.name: m
    for m in (
        _m("mirage", 25, 1280, 704),
        _m("lucy_v2v_720p_rt", 25, 1280, 704),
        _m("lucy_2_rt", 20, 1280, 720),
        _m("live_avatar", 25, 1280, 720),
    )
}

_DEPRECATED_ALIASES = {"mirage_v2": "lucy-restyle-2"}
_warned: set[str] = set()


def realtime_model_names() -> list[str]:
    """The names a user picks from (the production registry)."""
    return list(MODELS)


def model_names() -> list[str]:
    return realtime_model_names() + list(_DEPRECATED_ALIASES)


def get_model(model: str | ModelDefinition, *, allow_legacy: bool = False) -> ModelDefinition:
    """Resolve a model by name, or pass a custom :class:`ModelDefinition` through.

    ``mirage_v2`` resolves to ``lucy-restyle-2`` with a one-time warning.
    """
    if isinstance(model, ModelDefinition):
        return model
    if not isinstance(model, str):
        raise InvalidInputError(
            f"model must be a model name (str) or a ModelDefinition, got {type(model).__name__}"
        )
    if model in _DEPRECATED_ALIASES:
        target = _DEPRECATED_ALIASES[model]
        if model not in _warned:
            _warned.add(model)
            warnings.warn(
                f"model {model!r} is deprecated; use {target!r}",
                FutureWarning,
                stacklevel=2,
            )
        return MODELS[target]
    if model in MODELS:
        return MODELS[model]
    if allow_legacy and model in LEGACY_MODELS:
        return LEGACY_MODELS[model]
    raise ModelNotFoundError(
        f"unknown model {model!r}; valid realtime models: {', '.join(model_names())} "
        "(or pass a ModelDefinition for a custom model)"
    )
