"""DecartView on the Python side: constructor and traits, the key, both
streams over both transports, several views, a session ending under a view,
and close() leaving nothing running (threads, tasks, peer connections)."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simplejpeg

pytestmark = pytest.mark.timeout(90)

SECRET = "sk-view-secret-key-456"


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, Any, list[Any]]]:
    """Every message any widget comm publishes during the test, in order: (comm id, data, buffers)."""
    import comm
    from comm.base_comm import BaseComm

    sent: list[tuple[str, Any, list[Any]]] = []
    lock = threading.Lock()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                        **keys: Any) -> None:
            with lock:
                sent.append((self.comm_id, data, list(buffers or [])))

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return sent


@pytest.fixture
def views() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for v in made:
        v.close()


@pytest.fixture
def session(background_server) -> Iterator[Any]:
    """A headless session (the test pattern) on the background server."""
    from decart_widgets import RealtimeSession

    s = asyncio.run(RealtimeSession.connect("lucy-2.1", base_url=background_server.url))
    yield s
    s.disconnect()


def view_of(views: list[Any], session: Any, **kwargs: Any) -> Any:
    from decart_widgets import DecartView

    v = DecartView(session, **kwargs)
    views.append(v)
    return v


def custom(published: list[tuple[str, Any, list[Any]]], kind: str, view: Any = None) -> list[tuple[dict[str, Any], list[Any]]]:
    """The custom messages of type ``kind`` (sent by ``view``'s comm, or any)."""
    return [(d["content"], bufs) for comm_id, d, bufs in list(published)
            if d and d.get("method") == "custom" and d["content"].get("type") == kind
            and (view is None or comm_id == view.comm.comm_id)]


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


def frames_of(published: list[Any], stream: str, view: Any = None) -> list[tuple[dict[str, Any], list[Any]]]:
    return [(m, b) for m, b in custom(published, "oframe", view) if m["stream"] == stream]


def ack_all(view: Any, published: list[Any], view_id: str, seen: set[tuple[str, int]]) -> None:
    for msg, _ in custom(published, "oframe", view):
        key = (msg["stream"], msg["id"])
        if key not in seen:
            seen.add(key)
            view._link.handle({"type": "oack", "view": view_id, "id": msg["id"], "stream": msg["stream"]}, [])


def stream_over_comm(view: Any, published: list[Any], view_id: str, streams: list[str], n: int = 8) -> None:
    """A browser view asks for ``streams`` over the comm and acks every frame until each has ``n``."""
    view._link.handle({"type": "hello", "view": view_id}, [])
    view._link.handle({"type": "comm_start", "view": view_id, "streams": streams}, [])
    seen: set[tuple[str, int]] = set()

    start = {s: len(frames_of(published, s, view)) for s in streams}

    def enough() -> bool:
        ack_all(view, published, view_id, seen)
        return all(len(frames_of(published, s, view)) >= start[s] + n for s in streams)

    try:
        wait_for(enough, 20, f"{n} frames of each of {streams}")
    except AssertionError as exc:
        got = {s: len(frames_of(published, s, view)) - start[s] for s in streams}
        raise AssertionError(f"{exc}; got {got}") from None


async def negotiate_webrtc(view: Any, pc: Any, published: list[Any], view_id: str, streams: list[str]) -> None:
    """The browser's side of a view's WebRTC offer/answer, played by the aiortc peer ``pc``."""
    from aiortc import RTCSessionDescription

    view._link.handle({"type": "hello", "view": view_id}, [])
    for _ in streams:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    view._link.handle({"type": "rtc_offer", "view": view_id, "id": "o1", "sdp": pc.localDescription.sdp,
                       "streams": streams}, [])
    deadline = time.monotonic() + 20
    while not (replies := [m for m, _ in custom(published, "reply") if m["id"] == "o1"]):
        assert time.monotonic() < deadline, "no answer"
        await asyncio.sleep(0.05)
    assert replies[0]["ok"], replies[0]
    await pc.setRemoteDescription(RTCSessionDescription(replies[0]["result"]["sdp"], "answer"))


def view_threads() -> set[str]:
    """The threads a view starts: its relays' tap workers and its comm encoders
    (the sessions in these tests have no taps of their own)."""
    return {t.name for t in threading.enumerate() if t.name.startswith(("decart-tap-", "decart-comm-encoder"))}


def open_peer_connections() -> int:
    from aiortc import RTCPeerConnection

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed")


def widget_tasks() -> list[str]:
    """Tasks on the media loop running code of the widget package."""
    from decart_widgets.common.media_loop import media_loop

    async def names() -> list[str]:
        out = []
        for task in asyncio.all_tasks():
            code = getattr(task.get_coro(), "cr_code", None)
            if code is not None and "/decart_widgets/widget/" in code.co_filename and task is not asyncio.current_task():
                out.append(code.co_qualname if hasattr(code, "co_qualname") else code.co_name)
        return out

    try:
        loop = media_loop.loop
    except RuntimeError:
        return []  # no media loop left at all
    return asyncio.run_coroutine_threadsafe(names(), loop).result(10)


# ---------------------------------------------------------------- traits


def test_traits_and_defaults(views, session, published):
    v = view_of(views, session)
    state = v.get_state()
    for name in ("state", "session_id", "generation_seconds", "error", "transport", "transport_in_use", "stats",
                 "show_input", "model", "view_only"):
        assert name in state, name
    assert state["transport"] == "auto" and state["show_input"] is False and state["view_only"] is False
    assert state["model"] == "lucy-2.1" and state["error"] is None  # None: no blank banner in the UI
    assert v.state.value in ("connected", "generating") and v.session_id == session.session_id
    assert v.session is session and not v.ended
    assert "DecartView" in repr(v) and "lucy-2.1" in repr(v)
    # the view's module is the view's: no camera, no prompt controls
    assert "dwBuildViewUI" in v._esm and "getUserMedia" not in v._esm and "dw-prompt" not in v._esm


def test_traits_documented_once():
    import inspect

    from decart_widgets.widget import _view

    src = inspect.getsource(_view.DecartView)
    for name in _view.DecartView.class_traits(sync=True):
        if name.startswith("_") or name in ("layout", "tabbable", "tooltip"):
            continue
        decl = f"    {name} = t."
        assert src.count(decl) == 1, f"{name} declared {src.count(decl)} times"
        assert '"""' in "\n".join(src.split(decl, 1)[1].split("\n")[1:4]), f"{name} has no docstring"


def test_bad_arguments_raise_clear_errors(views, session):
    from decart_widgets import DecartView
    from decart_widgets.errors import InvalidInputError

    with pytest.raises(TypeError):
        DecartView(session, show_inputs=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DecartView()  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError, match="RealtimeSession"):
        DecartView("a session")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="show_input"):
        DecartView(session, show_input="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="auto, webrtc, comm"):
        DecartView(session, transport="udp")
    assert session.is_connected()  # a refused view leaves the session alone


def test_a_disconnected_session_is_refused(background_server):
    from decart_widgets import DecartView, RealtimeSession
    from decart_widgets.errors import SessionClosedError

    s = asyncio.run(RealtimeSession.connect("lucy-2.1", base_url=background_server.url))
    s.disconnect()
    with pytest.raises(SessionClosedError, match="disconnected"):
        DecartView(s)


def test_a_session_ending_while_the_view_is_made_leaves_nothing(views, session, monkeypatch):
    """The session disconnects between the view's check and its subscribing:
    the error comes out and the view has let go of the media loop."""
    from decart_widgets import DecartView
    from decart_widgets.errors import SessionClosedError
    from decart_widgets.widget import _view

    class Closing(_view.SessionFeed):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise SessionClosedError("this session is disconnected")

    made: list[Any] = []
    monkeypatch.setattr(_view, "SessionFeed", Closing)
    monkeypatch.setattr(_view.DecartView, "_end", lambda self, _f=_view.DecartView._end: (made.append(self), _f(self)))
    with pytest.raises(SessionClosedError):
        DecartView(session, show_input=True)
    assert made and made[0].ended and made[0].comm is None
    assert view_threads() == set() and widget_tasks() == []


# ---------------------------------------------------------------- the key


def test_key_never_in_state_messages_or_repr(views, published):
    from decart_widgets import RealtimeSession
    from decart_widgets.server import LocalServer

    with LocalServer(model="passthrough", valid_keys={SECRET}).start_background() as server:
        s = asyncio.run(RealtimeSession.connect("lucy-2.1", base_url=server.url, api_key=SECRET))
        try:
            v = view_of(views, s, show_input=True)
            stream_over_comm(v, published, "k1", ["output", "input"], n=3)
            wait_for(lambda: v.stats.get("comm_frames_sent"), 5, "stats")
            for blob in (json.dumps(v.get_state(), default=str), repr(v), str(v.__dict__.get("_trait_values"))):
                assert SECRET not in blob
            for _, data, buffers in published:
                assert SECRET not in json.dumps(data, default=str)
                assert all(SECRET.encode() not in bytes(b) for b in buffers)
            v.close()
        finally:
            s.disconnect()


# --------------------------------------------------------- both streams


def test_output_and_input_over_comm(views, session, published):
    v = view_of(views, session, show_input=True)
    stream_over_comm(v, published, "c1", ["output", "input"])
    out, inp = frames_of(published, "output"), frames_of(published, "input")
    for msg, bufs in out + inp:
        assert simplejpeg.is_jpeg(bytes(bufs[0])) and (msg["w"], msg["h"]) == (1280, 720)
    # the test pattern's stamp: every output frame is one of the frames the model was sent
    sent = {m["counter"] for m, _ in inp}
    assert all(isinstance(c, int) for c in sent)
    assert max(m["counter"] for m, _ in out) <= max(sent) + 3  # outputs follow inputs (allow the ones in flight)
    wait_for(lambda: v.stats.get("comm_input_frames_sent", 0) > 0 and v.stats.get("comm_frames_sent", 0) > 0, 5,
             "both streams in the stats")
    assert v.transport_in_use is None  # the view never said which transport it uses
    v._link.handle({"type": "transport", "view": "c1", "name": "comm"}, [])
    assert v.transport_in_use == "comm"


def test_output_only_view_sends_no_input_and_refuses_camera_messages(views, session, published):
    v = view_of(views, session)
    v._link.handle({"type": "hello", "view": "o1"}, [])
    v._link.handle({"type": "comm_start", "view": "o1", "streams": ["output", "input"]}, [])  # no input here
    assert v._link.malformed_messages == 1
    stream_over_comm(v, published, "o1", ["output"], n=3)
    assert not frames_of(published, "input")
    # DecartLive's messages are not the view's: dropped, and a request among them refused
    for i, kind in enumerate(("cframe", "image", "image_clear")):
        v._link.handle({"type": kind, "view": "o1", "id": f"r{i}", "name": "x.png"}, [b"\xff\xd8\xff\xe0"])
    v._link.handle({"type": "camera_info", "view": "o1", "facing": "user"}, [])
    replies = [m for m, _ in custom(published, "reply")]
    assert [r["id"] for r in replies] == ["r0", "r1", "r2"] and not any(r["ok"] for r in replies)
    assert "does not take cframe" in replies[0]["error"]
    assert v._link.malformed_messages == 5
    assert not custom(published, "roles")  # no camera to hand out


async def test_output_and_input_over_webrtc_in_offer_order(views, published):
    """A WebRTC view gets one track per stream, in its offer's order: the
    input (the colourful test pattern) and the output (the sketch effect, grey)."""
    from decart_widgets import RealtimeSession
    from decart_widgets.common.rtc import new_peer_connection
    from decart_widgets.media.convert import frame_to_rgb
    from decart_widgets.server import LocalServer

    def saturation(rgb: np.ndarray) -> float:
        return float((rgb.max(axis=2).astype(int) - rgb.min(axis=2)).mean())

    async with LocalServer() as server:
        s = await RealtimeSession.connect("lucy-2.1", base_url=server.url, initial_state={"prompt": {"text": "sketch"}})
        pc = new_peer_connection()
        try:
            v = view_of(views, s, show_input=True)
            await negotiate_webrtc(v, pc, published, "w1", ["input", "output"])
            tracks = [t.receiver.track for t in pc.getTransceivers()]
            sat = []
            for track in tracks:
                for _ in range(5):  # past the first (keyframe-settling) frames
                    frame = await asyncio.wait_for(track.recv(), 20)
                sat.append(saturation(frame_to_rgb(frame)))
            assert sat[0] > 3 * sat[1], f"input {sat[0]:.1f} vs output {sat[1]:.1f}: streams in the wrong sections"
            assert v._link.peer_count == 1
            (peer,) = v._link._peers.values()
            await asyncio.to_thread(v.close)
            assert v._link.peer_count == 0 and peer.connection_state == "closed"
            assert view_threads() == set() and widget_tasks() == []
        finally:
            await pc.close()
            await asyncio.to_thread(s.disconnect)


def test_an_offer_with_fewer_sections_than_streams_is_refused(views, session, published):
    v = view_of(views, session, show_input=True)
    v._link.handle({"type": "hello", "view": "w2"}, [])
    sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    v._link.handle({"type": "rtc_offer", "view": "w2", "id": 1, "sdp": sdp, "streams": ["output", "input"]}, [])
    reply = wait_for(lambda: [m for m, _ in custom(published, "reply")], 10, "the reply")[0]
    assert not reply["ok"] and "1 video sections for 2 streams" in reply["error"]
    v._link.handle({"type": "rtc_offer", "view": "w2", "id": 2, "sdp": sdp, "streams": ["sideways"]}, [])
    reply = wait_for(lambda: [m for m, _ in custom(published, "reply") if m["id"] == 2], 10, "the reply")[0]
    assert not reply["ok"] and "streams must name" in reply["error"]
    assert v._link.peer_count == 0


# ------------------------------------------------------- headless sources


@pytest.mark.parametrize("kind", ["numpy", "file"])
def test_headless_sources_show(views, published, background_server, tmp_path, kind):
    from decart_widgets import FileSource, NumpySource, RealtimeSession

    if kind == "numpy":
        source: Any = NumpySource(lambda t: np.full((360, 640, 3), int(t * 100) % 255, np.uint8))
    else:
        source = FileSource(_clip(tmp_path / "clip.mp4"))
    s = asyncio.run(RealtimeSession.connect("lucy-2.1", base_url=background_server.url, source=source))
    try:
        v = view_of(views, s, show_input=True)
        stream_over_comm(v, published, "h1", ["output", "input"], n=5)
    finally:
        s.disconnect()


def _clip(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 320, 240, "yuv420p"
        for i in range(30):
            img = np.zeros((240, 320, 3), np.uint8)
            img[:, : (i * 10) % 320] = (200, 60, 20)
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


# ------------------------------------------------------------ watched


def test_a_watched_session_shows_its_output(views, session, published, background_server):
    from decart_widgets import RealtimeSession
    from decart_widgets.errors import InvalidInputError

    watcher = asyncio.run(RealtimeSession.subscribe(session.subscribe_token, base_url=background_server.url))
    try:
        with pytest.raises(InvalidInputError, match="watched session"):
            view_of(views, watcher, show_input=True)
        v = view_of(views, watcher)
        assert v.view_only and v.model == "" and "watched" in repr(v)
        stream_over_comm(v, published, "wa", ["output"], n=5)
    finally:
        watcher.disconnect()
    v.wait_for_state("disconnected", timeout=10)
    wait_for(lambda: v.ended, 10, "the view to let go")


# --------------------------------------------------- several, re-opened


def test_several_views_and_a_view_reopened(views, session, published):
    a, b = view_of(views, session), view_of(views, session)
    stream_over_comm(a, published, "a1", ["output"], n=3)
    stream_over_comm(b, published, "b1", ["output"], n=3)
    a.close()
    assert a.ended and not b.ended
    stream_over_comm(b, published, "b1", ["output"], n=3)  # the other view goes on
    # a browser view re-rendered (bye, then a new view id): frames flow again
    b._link.handle({"type": "bye", "view": "b1"}, [])
    assert len(b._link.views) == 0
    stream_over_comm(b, published, "b2", ["output"], n=3)
    # and a new widget for the same session after one was closed
    c = session.show(show_input=True)
    views.append(c)
    assert type(c).__name__ == "DecartView" and c.show_input
    stream_over_comm(c, published, "c1", ["output", "input"], n=3)


# ---------------------------------------------------- ending and closing


def test_close_is_idempotent_and_leaves_nothing_running(views, session, published):
    peers0 = open_peer_connections()
    assert view_threads() == set() and widget_tasks() == []
    v = view_of(views, session, show_input=True)
    stream_over_comm(v, published, "z1", ["output", "input"], n=3)
    started = view_threads()
    # two relays (output, input) and two encoders
    assert len(started) == 4 and {"decart-comm-encoder", "decart-comm-encoder-input"} <= started, started
    assert widget_tasks(), "the stats loop runs"
    v.close()
    v.close()
    assert v.ended and v.comm is None
    assert view_threads() == set(), "threads left running"
    assert widget_tasks() == [] and open_peer_connections() == peers0
    assert session.is_connected() and asyncio.run(session.snapshot(timeout=10)).shape == (720, 1280, 3)


def test_session_ending_under_the_view(views, background_server, published):
    """The session drops (no reconnect): the view says disconnected, shows the
    error, and lets go of its relays, encoder threads and stats loop."""
    from decart_widgets import RealtimeSession

    s = asyncio.run(RealtimeSession.connect("lucy-2.1", base_url=background_server.url, reconnect=False))
    try:
        v = view_of(views, s, show_input=True)
        stream_over_comm(v, published, "e1", ["output", "input"], n=3)
        states: list[str] = []
        v.observe(lambda change: states.append(change["new"].value), "state")
        background_server.drop_streams()
        v.wait_for_state("disconnected", timeout=15)
        wait_for(lambda: v.ended, 10, "the view to let go")
        assert states[-1] == "disconnected" and v.error and v.error["message"]
        assert view_threads() == set(), "threads left running"
        assert widget_tasks() == []
        v.close()
        v.close()
    finally:
        s.disconnect()


def test_session_disconnected_by_its_owner(views, session, published):
    v = view_of(views, session)
    stream_over_comm(v, published, "d1", ["output"], n=2)
    session.disconnect()
    v.wait_for_state("disconnected", timeout=10)
    wait_for(lambda: v.ended, 10, "the view to let go")
    assert v.error is None  # ended by its owner: nothing went wrong
    v._link.handle({"type": "hello", "view": "late"}, [])  # a view rendered after the end: ignored
    assert len(v._link.views) == 1 and v._link.peer_count == 0
