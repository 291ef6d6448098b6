"""create_client_token(): what it sends, and the responses it refuses."""

from __future__ import annotations

import pytest
from aiohttp import web

from decart_widgets import create_client_token
from decart_widgets.errors import InvalidAPIKeyError, TokenCreateError


@pytest.fixture
async def token_api():
    """A stand-in token endpoint answering with ``state["reply"]``."""
    state: dict = {"reply": {}, "requests": []}

    async def tokens(request: web.Request) -> web.Response:
        state["requests"].append((dict(request.headers), await request.json()))
        if request.headers.get("X-API-KEY") != "permanent":
            return web.Response(status=401, text="invalid api key")
        return web.json_response(state["reply"])

    app = web.Application()
    app.router.add_post("/v1/client/tokens", tokens)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state["url"] = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def test_returns_the_jwt_and_its_opaque_twin(token_api):
    token_api["reply"] = {"apiKey": "ek_abc", "token": "h.p.s", "expiresAt": "2030-01-01T00:00:00Z"}
    data = await create_client_token(
        api_key="permanent", api_base_url=token_api["url"], expires_in=120, allowed_models=["lucy-2.1"]
    )
    assert data["token"] == "h.p.s" and data["apiKey"] == "ek_abc"
    headers, body = token_api["requests"][-1]
    assert body == {"expiresIn": 120, "allowedModels": ["lucy-2.1"]}


async def test_a_response_without_the_signed_token_is_refused(token_api):
    token_api["reply"] = {"apiKey": "ek_abc", "expiresAt": "2030-01-01T00:00:00Z"}
    with pytest.raises(TokenCreateError, match="signed token"):
        await create_client_token(api_key="permanent", api_base_url=token_api["url"])


async def test_a_refused_key_is_an_invalid_key_error(token_api):
    with pytest.raises(InvalidAPIKeyError, match="401"):
        await create_client_token(api_key="wrong", api_base_url=token_api["url"])
