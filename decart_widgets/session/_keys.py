"""Where a connection's key comes from: ``api_key``, else ``get_token()``
(called again for every connect, so short-lived tokens work across
reconnects), else ``$DECART_API_KEY``; the local server needs none."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable

from ..errors import DecartError, InvalidAPIKeyError

__all__ = ["KeySource", "GetToken", "LOCAL_KEY"]

GetToken = Callable[[], "str | Awaitable[str]"]
#: What a loopback (local) server is sent when the user has no key.
LOCAL_KEY = "local"


class KeySource:
    def __init__(self, api_key: str | None, get_token: GetToken | None, *, loopback: bool) -> None:
        self._api_key = api_key
        self._get_token = get_token
        self._loopback = loopback

    async def resolve(self) -> str:
        if self._api_key is not None:
            return self._api_key
        if self._get_token is not None:
            return await self._call_get_token()
        env = os.environ.get("DECART_API_KEY", "").strip()
        if env:
            return env
        if self._loopback:
            return LOCAL_KEY
        raise InvalidAPIKeyError(
            "no API key: pass api_key=..., set DECART_API_KEY, or pass get_token=... "
            "(or use the local server, which needs none)"
        )

    async def _call_get_token(self) -> str:
        assert self._get_token is not None
        try:
            # a plain get_token may block (an HTTP call): keep it off the media loop
            if inspect.iscoroutinefunction(self._get_token):
                token = await self._get_token()
            else:
                token = await asyncio.to_thread(self._get_token)
            if inspect.isawaitable(token):
                token = await token
        except DecartError:
            raise
        except Exception as exc:
            raise InvalidAPIKeyError(f"get_token() failed: {exc}") from exc
        if not isinstance(token, str) or not token.strip():
            raise InvalidAPIKeyError("get_token() must return a non-empty string")
        return token
