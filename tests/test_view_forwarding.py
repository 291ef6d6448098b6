"""DecartView over WebRTC on a session with an aiortc link: its "output"
stream forwards the model server's encoded frames (the session decodes
nothing for it), its "input" stream is encoded here from the frames the
model is sent, and a comm view of the output makes the session decode again
only while it shows it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from _waits import wait_until
from test_widget_view import custom, negotiate_webrtc, published, views  # noqa: F401 - fixtures shared with the view's tests

pytestmark = pytest.mark.timeout(90)


def saturation(rgb: np.ndarray) -> float:
    return float((rgb.max(axis=2).astype(int) - rgb.min(axis=2)).mean())


async def _keep_receiving(track: Any, last: dict[str, Any], name: str) -> None:
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            last[name] = await track.recv()
            last[f"{name}_count"] = last.get(f"{name}_count", 0) + 1
    except MediaStreamError:
        pass


async def test_a_views_webrtc_output_forwards_and_its_input_is_encoded_here(views, published):  # noqa: F811

    from decart_widgets import DecartView, RealtimeSession
    from decart_widgets.common.rtc import new_peer_connection
    from decart_widgets.media.convert import frame_to_rgb
    from decart_widgets.server import LocalServer

    async with LocalServer() as server:
        s = await RealtimeSession.connect("lucy-2.1", base_url=server.url, media="webrtc",
                                          initial_state={"prompt": {"text": "sketch"}})
        pc = new_peer_connection()
        receiving: list[asyncio.Task[None]] = []
        try:
            v = DecartView(s, show_input=True)
            views.append(v)
            await negotiate_webrtc(v, pc, published, "f1", ["output", "input"])
            last: dict[str, Any] = {}
            for name, t in zip(("output", "input"), pc.getTransceivers(), strict=True):
                receiving.append(asyncio.ensure_future(_keep_receiving(t.receiver.track, last, name)))

            def now() -> dict[str, int]:
                st, link = s.stats(), v._link.stats()
                return {"received": st["frames_received"], "decoded": st["frames_decoded_out"],
                        "forwarded": link.get("rtc_frames_forwarded", 0), "encoded": link.get("rtc_frames_out", 0),
                        "input_encoded": link.get("rtc_input_frames_out", 0)}

            await wait_until(lambda: now()["forwarded"] >= 15, 30, "output frames forwarded to the view")
            # the output relay served the view only until forwarding began
            await wait_until(lambda: set(v._feed.taps) == {"input"}, 10, "the output relay removed")
            await asyncio.sleep(0.5)  # a frame decoding when the relay went
            before = now()
            await wait_until(lambda: now()["received"] >= before["received"] + 20, 20, "more output frames")
            after = now()
            assert after["decoded"] == before["decoded"], f"the session decoded output nobody needs: {before} {after}"
            assert after["forwarded"] >= before["forwarded"] + 15 and after["encoded"] == before["encoded"], after
            assert after["input_encoded"] > before["input_encoded"], "the input stream is encoded here"
            assert s.stats()["frames_forwarded_down"] >= after["forwarded"]
            # the browser decodes both: the sketch (grey) forwarded, the test pattern (colourful) encoded here
            await wait_until(lambda: last.get("output_count", 0) > 10 and last.get("input_count", 0) > 10, 20,
                             "frames at the browser end")
            out_sat, in_sat = saturation(frame_to_rgb(last["output"])), saturation(frame_to_rgb(last["input"]))
            assert in_sat > 3 * out_sat, f"input {in_sat:.1f} vs output {out_sat:.1f}"

            # a comm view of the output needs decoded frames: the relay is back while it shows them
            v._link.handle({"type": "hello", "view": "c1"}, [])
            v._link.handle({"type": "comm_start", "view": "c1", "streams": ["output"]}, [])
            await wait_until(lambda: "output" in v._feed.taps, 10, "the output relay for the comm view")
            decoding = now()["decoded"]
            await wait_until(lambda: now()["decoded"] > decoding + 5, 20, "output decoded for the comm view")
            assert now()["forwarded"] > after["forwarded"], "the WebRTC view still forwards"
            v._link.handle({"type": "comm_stop", "view": "c1"}, [])
            await wait_until(lambda: set(v._feed.taps) == {"input"}, 10, "the output relay removed again")
            await asyncio.to_thread(v.close)
            assert v._feed.taps == {} and not s.encoded_output._consumers
        finally:
            await pc.close()
            for task in receiving:
                task.cancel()
            await asyncio.gather(*receiving, return_exceptions=True)
            await asyncio.to_thread(s.disconnect)
