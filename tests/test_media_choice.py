"""Choosing the media link: ``media="auto" | "livekit" | "webrtc"``, where the
``livekit`` client is missing, the endpoint URL each link asks for, and the
codec and query options."""

from __future__ import annotations

import sys
import urllib.parse

import pytest
from aiohttp import web

from decart_widgets.errors import InvalidAPIKeyError, InvalidInputError, MediaUnavailableError
from decart_widgets.session import RealtimeSession
from decart_widgets.session._media_choice import LOCAL_AUTO, LiveKitFallbackWarning, resolve_media


@pytest.fixture
def no_livekit(monkeypatch):
    """As on a platform where the livekit rtc client cannot be installed (the
    local server's pure-Python ``livekit.protocol`` stays importable)."""
    for name in [m for m in sys.modules if m == "livekit.rtc" or m.startswith("livekit.rtc.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "livekit.rtc", None)


def test_auto_is_livekit_for_decart_and_the_measured_choice_locally():
    assert resolve_media("auto", loopback=False) == "livekit"
    assert resolve_media("auto", loopback=True) == LOCAL_AUTO
    assert resolve_media("webrtc", loopback=False) == "webrtc"


def test_without_the_livekit_client_auto_falls_back_with_one_warning(no_livekit):
    with pytest.warns(LiveKitFallbackWarning, match="webrtc") as record:
        assert resolve_media("auto", loopback=False) == "webrtc"
    assert len(record) == 1 and "\n" not in str(record[0].message)


async def test_without_the_livekit_client_media_livekit_says_how_to_get_it(background_server, no_livekit):
    with pytest.raises(MediaUnavailableError, match="pip install") as info:
        await RealtimeSession.connect(base_url=background_server.url, media="livekit")
    assert info.value.code == "MEDIA_UNAVAILABLE" and "media='webrtc'" in str(info.value)


async def test_without_the_livekit_client_a_local_auto_session_works(background_server, no_livekit, recwarn):
    session = await RealtimeSession.connect(base_url=background_server.url, media="auto")
    try:
        assert session.media == "webrtc"
        await session.snapshot()
    finally:
        session.disconnect()


async def test_bad_media_and_codec_arguments(background_server):
    url = background_server.url
    with pytest.raises(InvalidInputError, match="media must be one of"):
        await RealtimeSession.connect(base_url=url, media="carrier-pigeon")
    with pytest.raises(InvalidInputError, match="codec must be one of"):
        await RealtimeSession.connect(base_url=url, codec="av1")
    with pytest.raises(InvalidInputError, match="vp9.*livekit"):
        await RealtimeSession.connect(base_url=url, media="webrtc", codec="vp9")
    with pytest.raises(InvalidInputError, match="resolution"):
        await RealtimeSession.connect(base_url=url, resolution="4k")
    with pytest.raises(InvalidInputError, match="speed"):
        await RealtimeSession.connect(base_url=url, speed="ludicrous")
    with pytest.raises(InvalidInputError, match="unknown event"):
        await RealtimeSession.connect(base_url=url, handlers={"frame": print})


@pytest.fixture
async def refusing_endpoint():
    """A realtime endpoint that records each request's query and refuses the key."""
    seen: list[dict[str, str]] = []

    async def stream(request: web.Request) -> web.WebSocketResponse:
        seen.append(dict(request.query))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "error", "error": "Invalid API key (401)"})
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/v1/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"ws://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.mark.parametrize("media, early", [("livekit", "true"), ("webrtc", None)])
async def test_each_link_asks_for_its_generation(refusing_endpoint, media, early):
    url, seen = refusing_endpoint
    with pytest.raises(InvalidAPIKeyError):
        await RealtimeSession.connect(
            base_url=url, media=media, api_key="k", resolution="1080p", speed="fast", query={"extra": "1"}
        )
    (query,) = seen  # a permanent error is not retried
    assert query.get("livekit_early_room_info") == early
    assert query["resolution"] == "1080p" and query["speed"] == "fast" and query["extra"] == "1"
    assert query["model"] == "lucy-2.1" and urllib.parse.unquote(query["user_agent"]).startswith("decart-widgets/")
