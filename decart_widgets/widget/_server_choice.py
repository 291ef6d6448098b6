"""Which server a widget talks to, and the key it uses: decided in the kernel,
never sent to the browser.

- ``server="local"``: the embedded :class:`~decart_widgets.server.LocalServer`
  (started and owned by the widget);
- ``server="decart"``: Decart's production endpoint;
- ``server="ws://..."``/``"wss://..."``: that URL;
- ``server=None`` (default): Decart when a key is at hand (``api_key=``,
  ``get_token=`` or ``$DECART_API_KEY``), else the local server.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidBaseURLError, InvalidInputError
from ..session import DEFAULT_BASE_URL

__all__ = ["ServerChoice", "choose_server", "LOCAL_NOTE_NO_KEY", "LOCAL_NOTE_FORCED"]

LOCAL_NOTE_NO_KEY = "local demo model: no DECART_API_KEY"
LOCAL_NOTE_FORCED = "local demo model"


@dataclass(frozen=True)
class ServerChoice:
    #: "local", "decart" or "url".
    kind: str
    #: The realtime base URL (None for "local" until the server starts).
    base_url: str | None
    #: What the UI says about it (no secrets).
    note: str
    api_key: str | None = field(default=None, repr=False)
    get_token: Any = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The trait value: "local", "decart" or the URL (without query or userinfo)."""
        if self.kind != "url" or self.base_url is None:
            return self.kind
        parts = urllib.parse.urlsplit(self.base_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


def choose_server(server: str | None, api_key: str | None, get_token: Any) -> ServerChoice:
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise InvalidInputError("api_key must be a non-empty string")
    if get_token is not None and not callable(get_token):
        raise InvalidInputError("get_token must be a callable returning a key or token")
    env_key = os.environ.get("DECART_API_KEY", "").strip() or None
    has_key = api_key is not None or get_token is not None or env_key is not None
    if server is None:
        server = "decart" if has_key else "local"
    if not isinstance(server, str):
        raise InvalidInputError(f'server must be "local", "decart" or a ws(s):// URL, got {server!r}')
    if server == "local":
        note = LOCAL_NOTE_FORCED if has_key else LOCAL_NOTE_NO_KEY
        return ServerChoice("local", None, note)
    if server == "decart":
        if not has_key:
            # fail in the UI (error banner) at connect time would be too late to read well
            raise InvalidInputError(
                'server="decart" needs a key: pass api_key=..., set DECART_API_KEY, or pass get_token=...'
            )
        return ServerChoice("decart", DEFAULT_BASE_URL, "Decart", api_key, get_token)
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidBaseURLError(
            f'server must be "local", "decart" or a ws:// / wss:// URL, got {server.split("?")[0]!r}'
        )
    if parts.query or parts.username or parts.password:
        raise InvalidBaseURLError("pass the key as api_key=..., not inside the server URL")
    choice = ServerChoice("url", server.rstrip("/"), "", api_key, get_token)
    return ServerChoice("url", choice.base_url, choice.label, api_key, get_token)
