"""Keys and client tokens: who may connect, and redaction of secrets in logs.

Rules (docs/protocol.md sections 3 and 8):

- without ``valid_keys`` any non-empty key is accepted;
- with ``valid_keys`` only those keys, plus unexpired client tokens this
  server issued, are accepted;
- a client token may restrict models (``allowedModels``) and, when the
  connection carries an ``Origin`` header, origins (``allowedOrigins``);
- tokens only gate new connections.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["KeyRing", "IssuedToken", "TokenRequestError", "INVALID_KEY_ERROR", "redact"]

INVALID_KEY_ERROR = "Invalid API key (401)"
_EXPIRES_DEFAULT = 60
_EXPIRES_MAX = 3600

_SECRET_IN_TEXT = re.compile(r"((?:api_key|apiKey|token)=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``...?api_key=secret&model=x`` → ``...?api_key=***&model=x``."""
    return _SECRET_IN_TEXT.sub(r"\1***", text)


class TokenRequestError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IssuedToken:
    api_key: str
    jwt: str
    expires_at: float  # time.time()
    allowed_models: tuple[str, ...] | None
    allowed_origins: tuple[str, ...] | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _str_list(body: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TokenRequestError(400, f"{key} must be a list of strings")
    if len(value) > 20:
        raise TokenRequestError(400, f"{key} may hold at most 20 entries")
    return tuple(value)


class KeyRing:
    def __init__(self, valid_keys: frozenset[str] | None) -> None:
        self.valid_keys = valid_keys
        self._secret = secrets.token_bytes(32)
        self._tokens: dict[str, IssuedToken] = {}

    # -- permanent keys -------------------------------------------------
    def is_permanent_key(self, key: str | None) -> bool:
        if not key:
            return False
        if self.valid_keys is None:
            return True
        return key in self.valid_keys

    # -- realtime connections -------------------------------------------
    def check(self, key: str | None, model: str | None = None, origin: str | None = None) -> str | None:
        """None when ``key`` may open a new connection for ``model``, else the error text."""
        if not key:
            return INVALID_KEY_ERROR
        token = self._lookup(key)
        if token is not None:
            if token.expires_at <= time.time():
                return f"{INVALID_KEY_ERROR}: client token expired"
            if model is not None and token.allowed_models is not None and model not in token.allowed_models:
                return f"Permission denied (403): model {model!r} is not allowed for this token"
            if origin and token.allowed_origins is not None and origin not in token.allowed_origins:
                return f"Permission denied (403): origin {origin!r} is not allowed for this token"
            return None
        return None if self.is_permanent_key(key) else INVALID_KEY_ERROR

    def _lookup(self, key: str) -> IssuedToken | None:
        token = self._tokens.get(key)
        if token is not None or key.count(".") != 2:
            return token
        header, payload, signature = key.split(".")
        expected = _b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        return self._tokens.get(claims.get("sub", "")) if isinstance(claims, dict) else None

    # -- client tokens --------------------------------------------------
    def issue(self, permanent_key: str | None, body: Any) -> dict[str, Any]:
        """The JSON response of ``POST /v1/client/tokens``; raises TokenRequestError."""
        if not self.is_permanent_key(permanent_key):
            raise TokenRequestError(401, INVALID_KEY_ERROR)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise TokenRequestError(400, "request body must be a JSON object")
        expires_in = body.get("expiresIn", _EXPIRES_DEFAULT)
        if expires_in is None:
            expires_in = _EXPIRES_DEFAULT
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= _EXPIRES_MAX:
            raise TokenRequestError(
                400, f"expiresIn must be an integer number of seconds from 1 to {_EXPIRES_MAX}, got {expires_in!r}"
            )
        allowed_models = _str_list(body, "allowedModels")
        allowed_origins = _str_list(body, "allowedOrigins")
        constraints = body.get("constraints")
        metadata = body.get("metadata")
        if constraints is not None and not isinstance(constraints, dict):
            raise TokenRequestError(400, "constraints must be a JSON object")
        if metadata is not None and not isinstance(metadata, dict):
            raise TokenRequestError(400, "metadata must be a JSON object")

        self._forget_expired()
        now = time.time()
        api_key = "ek_" + secrets.token_urlsafe(24)
        expires_at = now + expires_in
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({"sub": api_key, "iat": int(now), "exp": int(expires_at)}).encode())
        signature = _b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = IssuedToken(api_key, f"{header}.{payload}.{signature}", expires_at, allowed_models, allowed_origins)
        self._tokens[api_key] = token
        permissions: dict[str, list[str]] = {}  # only the restrictions that were asked for
        if allowed_models is not None:
            permissions["models"] = list(allowed_models)
        if allowed_origins is not None:
            permissions["origins"] = list(allowed_origins)
        return {
            "apiKey": api_key,
            "token": token.jwt,
            "expiresAt": datetime.fromtimestamp(expires_at, timezone.utc).isoformat().replace("+00:00", "Z"),
            "permissions": permissions,
            "constraints": constraints,
            "metadata": metadata,
        }

    def _forget_expired(self) -> None:
        # keep expired tokens a while so their use gets the precise "expired" error
        cutoff = time.time() - 3600
        for key in [k for k, t in self._tokens.items() if t.expires_at < cutoff]:
            del self._tokens[key]
