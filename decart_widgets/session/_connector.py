"""How a session opens an attempt: the endpoint URL (with the key, which
is why it is never logged unredacted), the media link of the session's
generation, and the HTTP session every attempt shares."""

from __future__ import annotations

import functools
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp
import av

from ..media.forwarding import EncodedFeed
from ..media.track import FramePump
from ..models import ModelDefinition
from ..signaling import redact_url
from ._attempt import Attempt, LinkFactory
from ._keys import KeySource
from ._link import LinkSettings
from ._watch import LegacyWatch, RoomWatch, fetch_watch_credentials

log = logging.getLogger(__name__)

__all__ = ["Connector"]


class Connector:
    def __init__(
        self,
        *,
        base_url: str,
        keys: KeySource,
        model: ModelDefinition,
        media: str,
        settings: LinkSettings,
        upstream: FramePump | None,
        deliver: Callable[[av.VideoFrame], None],
        user_agent: str,
        output_feed: EncodedFeed | None = None,
        arrived: Callable[[int | None], None] | None = None,
        deliver_decoded: Callable[[av.VideoFrame], None] | None = None,
        query: dict[str, str],
        watch: LegacyWatch | RoomWatch | None = None,
    ) -> None:
        self.base_url = base_url
        self._keys = keys
        self._model = model
        #: ``"livekit"`` or ``"webrtc"``.
        self.media = media
        self._settings = settings
        self._upstream = upstream
        self._deliver = deliver
        self._output_feed = output_feed
        self._arrived = arrived
        self._deliver_decoded = deliver_decoded
        self._user_agent = user_agent
        self._query = query
        self._watch = watch
        self._http: aiohttp.ClientSession | None = None

    async def attempt(self, on_event: Callable[[Attempt, str, Any], None]) -> Attempt:
        """A new, unopened attempt (resolving the key: ``get_token()`` runs here)."""
        key = await self._keys.resolve()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = self._url(key)
        if url is not None:
            log.info("connecting to %s (%s media)", redact_url(url), self.media)
        return Attempt(
            http=self._http,
            url=url,
            settings=self._settings,
            make_link=self._link_factory(key),
            upstream=self._upstream,
            deliver=self._deliver,
            on_event=on_event,
            output_feed=self._output_feed,
            arrived=self._arrived,
            deliver_decoded=self._deliver_decoded,
        )

    def _url(self, key: str) -> str | None:
        watch = self._watch
        if isinstance(watch, RoomWatch):
            return None  # a LiveKit viewer asks watch-stream for its room, no socket
        if isinstance(watch, LegacyWatch):
            query = urllib.parse.urlencode({"IP": watch.ip, "port": watch.port, "api_key": key})
            return f"{self.base_url}/subscribe/{urllib.parse.quote(watch.sid, safe='')}?{query}"
        params = {"api_key": key, "model": self._model.name, "user_agent": self._user_agent}
        if self.media == "livekit":
            params["livekit_early_room_info"] = "true"
        params.update(self._query)
        return f"{self.base_url}{self._model.url_path}?{urllib.parse.urlencode(params)}"

    def _link_factory(self, key: str) -> LinkFactory:
        if self.media == "webrtc":
            from ._webrtc_link import WebRtcLink

            return WebRtcLink
        from ._livekit_link import LiveKitLink

        watch = self._watch
        if isinstance(watch, RoomWatch):
            http, base, limit = self._http, self.base_url, self._settings.timeouts.room_info
            assert http is not None

            async def room_source() -> Any:
                return await fetch_watch_credentials(http, base, key, watch.room_name, limit)

            return functools.partial(LiveKitLink, room_source=room_source)
        return LiveKitLink

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()
