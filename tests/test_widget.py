"""DecartLive on the Python side: traits, constructor, key handling, the comm
transport's validation and backpressure, the browser camera source."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import av
import numpy as np
import pytest
import simplejpeg
from _widgets import make

pytestmark = pytest.mark.timeout(60)

SECRET = "sk-very-secret-key-123"


@pytest.fixture
def recorded_comms(monkeypatch):
    """Every widget comm created during the test, recording what it publishes."""
    import comm
    from comm.base_comm import BaseComm

    made: list[Any] = []

    class RecordingComm(BaseComm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.published: list[tuple[str, Any, list[Any]]] = []
            super().__init__(*args, **kwargs)
            made.append(self)

        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
            self.published.append((msg_type, data, list(buffers or [])))

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return made




def jpeg(w: int = 64, h: int = 48) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = 200
    return simplejpeg.encode_jpeg(img, quality=80, colorspace="RGB")


# ------------------------------------------------------------------ traits


def test_synced_traits_and_defaults(widgets, monkeypatch):
    monkeypatch.delenv("DECART_API_KEY", raising=False)
    w = make(widgets, connect=False)
    state = w.get_state()
    for name in ("model", "prompt", "enhance", "state", "session_id", "generation_seconds", "error",
                 "transport", "transport_in_use", "mirror", "stats", "server", "server_note", "active"):
        assert name in state, name
    assert state["state"] == "disconnected" and state["transport"] == "auto" and state["enhance"] is True
    assert w.server == "local" and w.server_note == "local demo model: no DECART_API_KEY"
    assert "lucy-2.1" in w.models and w.session is None


def test_no_error_until_there_is_one(widgets):
    # t.Dict(None, ...) would make {} the default: truthy in JS, an empty banner
    w = make(widgets, connect=False)
    assert w.error is None and w.get_state()["error"] is None


def test_traits_documented_once():
    import inspect

    from decart_widgets.widget import _live

    src = inspect.getsource(_live.DecartLive)
    synced = [n for n, tr in _live.DecartLive.class_traits(sync=True).items() if not n.startswith("_")]
    for name in synced:
        if name in ("layout", "tabbable", "tooltip"):
            continue  # inherited from DOMWidget
        decl = f"    {name} = t."
        assert src.count(decl) == 1, f"{name} declared {src.count(decl)} times"
        after = src.split(decl, 1)[1].split("\n")
        # the docstring follows the declaration (which may span lines)
        rest = "\n".join(after[1:4])
        assert '"""' in rest, f"{name} has no docstring under its declaration"


def test_unknown_constructor_argument_raises_type_error():
    from decart_widgets.widget import DecartLive

    with pytest.raises(TypeError):
        DecartLive(promt="typo")


def test_invalid_values_raise(widgets):
    from decart_widgets.errors import InvalidBaseURLError, ModelNotFoundError
    from decart_widgets.widget import DecartLive

    with pytest.raises(ModelNotFoundError):
        DecartLive(model="no-such-model")
    with pytest.raises(InvalidBaseURLError):
        DecartLive(server="ws://example.com/?api_key=x", connect=False)
    w = make(widgets, connect=False)
    with pytest.raises(ModelNotFoundError):
        w.model = "nope"


def test_server_choice(monkeypatch):
    from decart_widgets.errors import InvalidInputError
    from decart_widgets.widget._server_choice import choose_server

    monkeypatch.delenv("DECART_API_KEY", raising=False)
    assert choose_server(None, None, None).kind == "local"
    with pytest.raises(InvalidInputError):
        choose_server("decart", None, None)
    c = choose_server(None, SECRET, None)
    assert c.kind == "decart" and c.base_url == "wss://api.decart.ai" and SECRET not in repr(c)
    monkeypatch.setenv("DECART_API_KEY", SECRET)
    assert choose_server(None, None, None).kind == "decart"
    local = choose_server("local", None, None)
    assert local.kind == "local" and local.note == "local demo model"
    url = choose_server("ws://127.0.0.1:9/", None, None)
    assert url.kind == "url" and url.label == "ws://127.0.0.1:9"


# ---------------------------------------------------------------- the key


def test_key_never_in_state_messages_or_repr(widgets, recorded_comms):
    from decart_widgets.server import LocalServer

    with LocalServer(model="passthrough", valid_keys={SECRET}).start_background() as server:
        w = make(widgets, server=server.url, api_key=SECRET, prompt="anime")
        assert w.wait_for_state("connected", "generating", timeout=20) in ("connected", "generating")
        w._link.handle({"type": "hello", "view": "v1"}, [])
        w._link.handle({"type": "comm_start", "view": "v1"}, [])
        time.sleep(1.5)  # stats and output frames flow through the comm
        w.prompt = "sketch"
        time.sleep(0.3)
        assert w.error is None, w.error
        blob = json.dumps(w.get_state(), default=str)
        assert SECRET not in blob
        assert SECRET not in repr(w) and SECRET not in str(w.__dict__.get("_trait_values"))
        msgs = [m for c in recorded_comms for m in c.published]
        assert any(d and d.get("method") == "custom" and d["content"].get("type") == "oframe" for _, d, _ in msgs)
        for _, data, buffers in msgs:
            assert SECRET not in json.dumps(data, default=str)
            for b in buffers:
                assert SECRET.encode() not in bytes(b)
        w.close()


# --------------------------------------------------------- comm transport


def test_comm_camera_frames_validated_dropped_and_counted(widgets, recorded_comms):
    from decart_widgets.widget._comm_transport import MAX_JPEG_BYTES

    w = make(widgets, connect=False)
    link = w._link
    link.handle({"type": "hello", "view": "v1"}, [])
    good = jpeg()
    bad_inputs: list[list[Any]] = [
        [b"not a jpeg at all"],
        [good[: len(good) // 3] + b"\0" * 10],  # truncated
        [b"\xff\xd8\xff" + b"\0" * (MAX_JPEG_BYTES + 1)],  # oversized
        [],  # no buffer
        [good, good],  # two buffers
        [jpeg(8, 8)],  # too small
        ["a string, not bytes"],
    ]
    for i, bufs in enumerate(bad_inputs):
        link.handle({"type": "cframe", "id": i, "view": "v1"}, bufs)
    assert link.camera_in.rejected == len(bad_inputs)
    assert w.camera.frames_pushed == 0
    link.handle({"type": "cframe", "id": 99, "view": "v1"}, [good])
    assert link.camera_in.received == 1 and w.camera.frames_pushed == 1
    acks = [d["content"]["id"] for c in recorded_comms for _, d, _ in c.published
            if d and d.get("method") == "custom" and d["content"]["type"] == "reply"]
    assert acks == [*range(len(bad_inputs)), 99]  # every frame acked, dropped or not
    # malformed messages never raise
    for content in (None, "text", {"type": 5}, {"type": "__class__"}, {"type": "nope"}, {"type": "rtc_offer", "sdp": 3}):
        link.handle(content, [])
    assert link.malformed_messages >= 5
    assert w.stats == {} or "camera_frames_rejected" in w.stats


def _frame(value: int = 100, w: int = 64, h: int = 48) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((h, w, 3), value, np.uint8), format="rgb24").reformat(format="yuv420p")


def test_comm_output_backpressure_two_in_flight_newest_wins():
    from decart_widgets.widget import _comm_transport as ct

    sent: list[dict[str, Any]] = []
    got = threading.Event()

    def send(content: dict[str, Any], buffers: list[bytes]) -> None:
        assert simplejpeg.is_jpeg(buffers[0])
        sent.append(content)
        got.set()

    sender = ct.JpegFrameSender(send)
    sender.start()
    try:
        for i in range(10):
            sender.offer(_frame(i * 20), i)
        deadline = time.monotonic() + 0.15  # less than the ack expiry
        while time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sent) == ct.MAX_IN_FLIGHT, sent
        assert sender.skipped >= 7
        # acking frees a slot; the newest frame goes next
        sender.ack(sent[0]["id"])
        deadline = time.monotonic() + 2
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sent[2]["counter"] == 9
        # no acks at all (a busy kernel): slots expire, output keeps flowing slowly
        for i in range(10, 13):
            sender.offer(_frame(), i)
            time.sleep(ct.ACK_EXPIRY_S + 0.05)
        assert len(sent) >= 4 and sender.expired >= 1
    finally:
        sender.close()
    assert not any(t.name == "decart-comm-encoder" for t in threading.enumerate())


def test_encode_frame_keeps_the_stamp():
    from decart_widgets.common.stamp import read_stamp, stamp
    from decart_widgets.widget._comm_transport import encode_frame

    img = np.full((360, 640, 3), 90, np.uint8)
    stamp(img, 4242)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
    assert read_stamp(simplejpeg.decode_jpeg(encode_frame(frame))) == 4242


# --------------------------------------------------------- camera source


async def test_browser_camera_source_waiting_letterbox_newest_wins():
    from decart_widgets.media._fit import letterbox_rect
    from decart_widgets.media.browser import BrowserCameraSource

    src = BrowserCameraSource()
    src.configure(1280, 720, 30)
    waiting = await src.read(0, 0.0)
    assert waiting.shape == (720, 1280, 3) and waiting.mean() < 40 and waiting.max() > 150  # dark, with text
    assert letterbox_rect(640, 480, 1280, 720) == (160, 0, 960, 720)
    src.push(np.full((480, 640, 3), 200, np.uint8))
    src.push_frame(_frame(120, 640, 480))  # newest wins
    out = await src.read(1, 0.03)
    assert src.frames_dropped == 1 and src.frames_read == 1
    assert out[:, :150].max() == 0 and abs(int(out[360, 640, 1]) - 120) < 8  # pillarbox bars, picture centred
    again = await src.read(2, 0.06)  # no new frame: the last one repeats
    assert np.array_equal(again, out) and src.frames_read == 1
    # mirroring is the session pump's (tests/test_track.py); the source only says when
    assert not src.mirror_default
    src.selfie = True
    assert src.mirror_default
    src.reset()
    assert not src.mirror_default  # "waiting for camera" is never mirrored
    with pytest.raises(ValueError):
        src.push(np.zeros((10, 10), np.uint8))


# ------------------------------------------------------------- lifecycle


def test_model_switch_reconnects_with_same_prompt_and_close_stops_everything(widgets):
    before = {t.name for t in threading.enumerate()}
    w = make(widgets, prompt="anime")
    w.wait_for_state("generating", timeout=20)
    first = w.session
    server = w.local_server
    mark = server.mark_events()
    w.model = "lucy-2.5"
    ev = server.wait_for_event_sync(lambda e: e["type"] == "stream_opened" and e.get("model") == "lucy-2.5", 15, since=mark)
    w.wait_for_state("generating", timeout=20)
    assert w.session is not first and w.session.prompt == "anime"
    prompts = [e for e in server.events if e["seq"] > ev["seq"] and e["type"] == "prompt"]
    assert prompts and prompts[0]["prompt"] == "anime"
    frame = asyncio.run(w.session.snapshot(timeout=10))
    assert frame.shape == (720, 1280, 3)
    w.close()
    w.close()  # idempotent
    assert not server.running and w.session is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = {t.name for t in threading.enumerate()} - before
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"threads left running: {left}"


def test_python_set_applies_and_raises_on_moderation(widgets):
    from decart_widgets.errors import DecartError

    w = make(widgets)
    w.wait_for_state("connected", "generating", timeout=20)
    w.set(prompt="neon")
    assert w.prompt == "neon" and w.session.prompt == "neon"
    with pytest.raises(DecartError):
        w.set(prompt="nsfw please")
    assert w.error and "moderation" in w.error["message"]
    w.disconnect()
    assert w.state.value == "disconnected" and w.session is None and not w.active


def test_session_ends_when_no_view_is_left_and_resumes_when_one_returns(widgets, monkeypatch):
    from decart_widgets.widget import _live

    monkeypatch.setattr(_live, "ABANDON_S", 0.5)
    w = make(widgets)
    w.wait_for_state("connected", "generating", timeout=20)
    w._link.handle({"type": "hello", "view": "tab-1"}, [])
    w._link.handle({"type": "bye", "view": "tab-1"}, [])  # the tab closed
    w.wait_for_state("disconnected", timeout=10)
    assert w.session is None and not w.active
    w._link.handle({"type": "hello", "view": "tab-2"}, [])  # opened again
    w.wait_for_state("connected", "generating", timeout=20)
    assert w.active and w.session is not None


def test_close_on_the_media_loop_leaves_nothing_running(widgets):
    """close() from a session event handler (the media loop's thread) shuts
    down there: no thread of its own, and nothing left once it is done."""
    from decart_widgets.common.media_loop import media_loop

    before = {t.name for t in threading.enumerate()}
    w = make(widgets)
    w.wait_for_state("connected", "generating", timeout=20)
    server = w.local_server
    closed = threading.Event()
    w.session.on("stats", lambda stats: (w.close(), closed.set()))  # runs on the media loop
    assert closed.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {t.name for t in threading.enumerate()} - before
        if not left and not server.running:
            break
        time.sleep(0.05)
    assert not left and not server.running, f"left running: {left}"
    assert w.session is None and not media_loop.in_loop_thread()
