"""Short-lived client tokens (docs/protocol.md section 8): a permanent key stays in
the kernel, a token that only opens new connections goes where it must."""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from .errors import InvalidAPIKeyError, InvalidBaseURLError, InvalidInputError, TokenCreateError

__all__ = ["create_client_token", "DEFAULT_API_BASE_URL"]

DEFAULT_API_BASE_URL = "https://api.decart.ai"


async def create_client_token(
    *,
    api_key: str | None = None,
    api_base_url: str = DEFAULT_API_BASE_URL,
    expires_in: int | None = None,
    allowed_models: list[str] | None = None,
    allowed_origins: list[str] | None = None,
    constraints: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Create a client token; returns the server's JSON: ``token`` (a signed
    JWT), ``apiKey`` (its opaque ``ek_...`` twin), ``expiresAt``, ``permissions``,
    ``constraints``.

    Hand ``token``, the JWT, to a front end or a less trusted process: it is
    what the current official SDKs (Python 0.2.4, JS) require for realtime
    connections. ``apiKey`` also opens realtime sessions (``get_token=`` or
    ``api_key=`` of :meth:`RealtimeSession.connect` accept either); the
    permanent key never leaves the kernel. Both only gate new connections: a
    running session outlives their expiry.
    """
    key = api_key if api_key is not None else os.environ.get("DECART_API_KEY", "")
    if not isinstance(key, str) or not key.strip():
        raise InvalidAPIKeyError("a permanent API key is needed: pass api_key= or set DECART_API_KEY")
    if not isinstance(api_base_url, str) or not api_base_url.startswith(("http://", "https://")):
        raise InvalidBaseURLError(f"api_base_url must be an http(s) URL, got {api_base_url!r}")
    body: dict[str, Any] = {}
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= 3600:
            raise InvalidInputError(f"expires_in must be an int of seconds in 1..3600, got {expires_in!r}")
        body["expiresIn"] = expires_in
    for name, value, field in (
        ("allowed_models", allowed_models, "allowedModels"),
        ("allowed_origins", allowed_origins, "allowedOrigins"),
    ):
        if value is not None:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise InvalidInputError(f"{name} must be a list of strings")
            body[field] = list(value)
    if constraints is not None:
        body["constraints"] = constraints
    if metadata is not None:
        body["metadata"] = metadata
    url = api_base_url.rstrip("/") + "/v1/client/tokens"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.post(url, json=body, headers={"X-API-KEY": key}) as resp:
                text = await resp.text()
                if resp.status in (401, 403):
                    raise InvalidAPIKeyError(f"token request refused (HTTP {resp.status}): {text[:200]}")
                if resp.status != 200:
                    raise TokenCreateError(f"token request failed (HTTP {resp.status}): {text[:200]}")
                data = await resp.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise TokenCreateError(f"token request to {url} failed: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("apiKey"), str):
        raise TokenCreateError("token response has no apiKey")
    if not isinstance(data.get("token"), str) or not data["token"]:
        # the platform guarantees the signed token (Python SDK 0.2.4 refuses a response without it)
        raise TokenCreateError("token response has no signed token (the JWT a front end needs)")
    return data
