"""Argument checks for ``RealtimeSession``: every bad input gets an error
that names what was wrong and what is accepted, before anything is sent."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..common.bitrate import DEFAULT_UPSTREAM_BITRATE
from ..common.rtc import is_loopback_host
from ..errors import InvalidAPIKeyError, InvalidBaseURLError, InvalidInputError
from ..images import load_image_b64
from ..media.sources import Source
from ..models import ModelDefinition
from ..signaling import redact_url
from ._link import LinkSettings
from ._media_choice import resolve_media
from ._types import CODECS, MEDIA_LINKS, StateSpec, Timeouts
from ._watch import LegacyWatch, RoomWatch

__all__ = [
    "check_prompt",
    "check_bool",
    "check_seconds",
    "check_base_url",
    "check_api_key",
    "check_source",
    "check_mirror",
    "check_media",
    "check_codec",
    "check_choice",
    "resolve_bitrate",
    "parse_initial_state",
    "check_connect",
    "check_handlers",
    "ConnectArgs",
    "RESOLUTIONS",
    "SPEEDS",
]

RESOLUTIONS = ("720p", "1080p")
SPEEDS = ("fast",)
_BITRATE_RANGE = (100_000, 50_000_000)


def check_prompt(prompt: Any, what: str = "prompt") -> str:
    if not isinstance(prompt, str):
        raise InvalidInputError(f"{what} must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidInputError(f"{what} must not be empty or blank")
    return prompt


def check_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, got {value!r}")
    return value


def check_seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInputError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_base_url(url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidBaseURLError(f"base_url must be a ws:// or wss:// URL, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidBaseURLError(
            f"base_url must be a ws:// or wss:// URL with a host, got {redact_url(url)!r}"
        )
    return url.rstrip("/")


def check_api_key(api_key: Any, get_token: Any) -> None:
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise InvalidAPIKeyError("api_key must be a non-empty string")
    if get_token is not None and not callable(get_token):
        raise InvalidInputError("get_token must be a callable returning a key or token")


def check_source(source: Any) -> Source:
    if not isinstance(source, Source):
        raise InvalidInputError(
            f"source must be a decart_widgets Source (e.g. TestPatternSource()), got {type(source).__name__}"
        )
    return source


def check_mirror(mirror: Any) -> bool | str:
    if mirror not in (True, False, "auto"):
        raise InvalidInputError(f"mirror must be True, False or 'auto', got {mirror!r}")
    return mirror


def check_media(media: Any) -> str:
    if media not in MEDIA_LINKS:
        raise InvalidInputError(f"media must be one of {', '.join(map(repr, MEDIA_LINKS))}, got {media!r}")
    return str(media)


def check_codec(codec: Any) -> str | None:
    if codec is None:
        return None
    if not isinstance(codec, str) or codec.lower() not in CODECS:
        raise InvalidInputError(f"codec must be one of {', '.join(map(repr, CODECS))} or None, got {codec!r}")
    return codec.lower()


def check_choice(value: Any, choices: tuple[str, ...], what: str) -> str | None:
    if value is not None and value not in choices:
        raise InvalidInputError(f"{what} must be one of {', '.join(map(repr, choices))} or None, got {value!r}")
    return value


def resolve_bitrate(bitrate: Any, model: ModelDefinition, *, unset: bool) -> int | None:
    """Bits/s for the upstream encoder: the default scales 2.5 Mbps at 720p by frame area."""
    if unset:
        area = model.width * model.height
        return max(1_000_000, int(DEFAULT_UPSTREAM_BITRATE * area / (1280 * 720)))
    low, high = _BITRATE_RANGE
    if bitrate is not None and (isinstance(bitrate, bool) or not isinstance(bitrate, int) or not low <= bitrate <= high):
        raise InvalidInputError(
            f"bitrate must be bits per second between {low:_} and {high:_}, or None; got {bitrate!r}"
        )
    return bitrate


async def parse_initial_state(initial: Any) -> StateSpec | None:
    """``{"prompt": {"text", "enhance"} | str, "image": ImageInput}`` → :class:`StateSpec`."""
    if initial is None:
        return None
    if not isinstance(initial, dict):
        raise InvalidInputError("initial_state must be a dict like {'prompt': {'text': ..., 'enhance': True}, 'image': ...}")
    unknown = set(initial) - {"prompt", "image"}
    if unknown:
        raise InvalidInputError(f"initial_state has unknown keys {sorted(unknown)}; accepted: 'prompt', 'image'")
    prompt = initial.get("prompt")
    text, enhance = None, True
    if isinstance(prompt, str):
        text = check_prompt(prompt, "initial_state prompt")
    elif isinstance(prompt, dict):
        text = check_prompt(prompt.get("text"), "initial_state prompt text")
        enhance = check_bool(prompt.get("enhance", True), "initial_state prompt enhance")
    elif prompt is not None:
        raise InvalidInputError("initial_state['prompt'] must be {'text': str, 'enhance': bool} or a string")
    image = initial.get("image")
    image_b64 = await load_image_b64(image) if image is not None else None
    if text is None and image_b64 is None:
        return StateSpec()  # explicit passthrough
    return StateSpec(text, enhance, image_b64)


@dataclass(frozen=True)
class ConnectArgs:
    """The checked arguments of ``connect()``/``subscribe()``."""

    base_url: str
    media: str
    settings: LinkSettings
    query: dict[str, str]
    reconnect: bool


def check_connect(
    model: ModelDefinition | None,
    *,
    base_url: Any,
    api_key: Any,
    get_token: Any,
    media: Any,
    reconnect: Any,
    timeouts: tuple[Any, Any, Any],
    codec: Any = None,
    bitrate: Any = None,
    default_bitrate: bool = False,
    resolution: Any = None,
    speed: Any = None,
    query: Any = None,
    watch: LegacyWatch | RoomWatch | None = None,
) -> ConnectArgs:
    """Check the connection arguments and decide the media link. ``model`` is
    None for a view-only session (which publishes nothing)."""
    base = check_base_url(base_url)
    check_api_key(api_key, get_token)
    prompt_s, image_s, connect_s = timeouts
    checked_timeouts = Timeouts(
        prompt=check_seconds(prompt_s, "prompt_timeout"),
        image=check_seconds(image_s, "image_timeout"),
        connect=check_seconds(connect_s, "connect_timeout"),
    )
    codec = check_codec(codec)
    if query is not None and (not isinstance(query, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())):
        raise InvalidInputError(f"query must be a dict of str to str, got {query!r}")
    params = dict(query or {})
    for name, value, choices in (("resolution", resolution, RESOLUTIONS), ("speed", speed, SPEEDS)):
        if check_choice(value, choices, name) is not None:
            params[name] = str(value)
    rate = resolve_bitrate(bitrate, model, unset=default_bitrate) if model is not None else None
    loopback = is_loopback_host(urllib.parse.urlsplit(base).hostname)
    kind = resolve_media(check_media(media), loopback=loopback, watch=watch)
    if kind == "webrtc" and codec == "vp9":
        raise InvalidInputError("codec='vp9' needs media='livekit' (aiortc publishes VP8 or H264)")
    settings = LinkSettings(loopback=loopback, timeouts=checked_timeouts, codec=codec, bitrate=rate)
    return ConnectArgs(base, kind, settings, params, check_bool(reconnect, "reconnect"))


def check_handlers(handlers: Any, events: tuple[str, ...]) -> dict[str, Any]:
    if handlers is None:
        return {}
    if not isinstance(handlers, dict):
        raise InvalidInputError(f"handlers must be a dict of event name to callable, got {type(handlers).__name__}")
    for name, handler in handlers.items():
        if name not in events:
            raise InvalidInputError(f"unknown event {name!r} in handlers; events are: {', '.join(events)}")
        if not callable(handler):
            raise InvalidInputError(f"handler for {name!r} must be callable, got {type(handler).__name__}")
    return dict(handlers)
