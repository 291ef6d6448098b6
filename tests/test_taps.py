"""Frame taps, transforms, pairing, snapshots and iterators on a live session."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from _waits import wait_until

from decart_widgets import CallbackError, FrameInfo, InvalidInputError, RealtimeSession
from decart_widgets.common.stamp import read_stamp


@pytest.fixture
async def session(media, background_server):
    s = await RealtimeSession.connect(media=media, base_url=background_server.url)
    yield s
    s.disconnect()


async def test_output_and_input_taps_get_rgb_in_order(session):
    got = {"input": [], "output": []}

    def tap_in(frame, info):
        got["input"].append((frame.shape, frame.dtype, info))

    def tap_out(frame, info):
        got["output"].append((frame.shape, frame.dtype, info))

    session.on_frame(tap_in, "input")
    session.on_frame(tap_out)
    await wait_until(lambda: len(got["output"]) >= 20 and len(got["input"]) >= 20, 10, "20 frames each")
    for stream in ("input", "output"):
        shapes = {(s, d) for s, d, _ in got[stream]}
        assert shapes == {((720, 1280, 3), np.dtype(np.uint8))}
        infos = [i for *_, i in got[stream]]
        assert all(isinstance(i, FrameInfo) and i.stream == stream for i in infos)
        indexes = [i.index for i in infos]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    # the local passthrough server carries the test pattern's counter through
    assert any(i.stamp is not None for *_, i in got["output"])


async def test_slow_callback_skips_not_queues(session):
    seen = []

    def slow(frame, info):
        seen.append(info.index)
        time.sleep(0.2)

    start = session.stats()["frames_received"]
    t0 = time.monotonic()
    tap = session.on_frame(slow)
    await asyncio.sleep(2.0)
    session.off_frame(slow)
    registered = time.monotonic() - t0
    received = session.stats()["frames_received"] - start
    # every frame offered was delivered or skipped, but the one that may have
    # been waiting in the slot when the tap was removed
    assert tap.offered - 1 <= tap.delivered + tap.skipped <= tap.offered, (tap.offered, tap.delivered, tap.skipped)
    assert tap.offered <= received and tap.skipped > 0
    # newest wins, no backlog: one call per 0.2 s at most, however long that took here
    assert len(seen) <= registered / 0.2 + 1, (len(seen), registered)
    if len(seen) > 2:
        # newest wins: consecutive deliveries are several frames apart
        assert np.median(np.diff(seen)) >= 2
    assert session.stats()["frames_skipped_by_taps"] >= tap.skipped


async def test_exception_reported_once_per_kind_media_goes_on(session):
    errors = []
    session.on("error", errors.append)
    calls = []

    def broken(frame, info):
        calls.append(1)
        raise ValueError("bad tap")

    session.on_frame(broken)
    await wait_until(lambda: len(calls) >= 10, 10, "10 calls")
    await asyncio.sleep(0.1)
    tap_errors = [e for e in errors if isinstance(e, CallbackError)]
    assert len(tap_errors) == 1 and "bad tap" in str(tap_errors[0])
    assert tap_errors[0].code == "CALLBACK_ERROR"
    assert session.is_connected()


async def test_async_callbacks_work(session):
    got = []

    async def tap(frame, info):
        await asyncio.sleep(0)
        got.append(frame.mean())

    session.on_frame(tap)
    await wait_until(lambda: len(got) >= 5, 10, "async tap calls")


async def test_transform_replaces_what_the_model_sees(session):
    def paint_red(frame, info):
        out = frame.copy()
        out[100:, :, 0] = 255  # keep the stamp strip at the top
        out[100:, :, 1:] = 0
        return out

    session.on_frame(paint_red, "input", transform=True)
    await asyncio.sleep(0.5)
    out = await session.snapshot("output")
    body = out[200:600].reshape(-1, 3).mean(axis=0)
    assert body[0] > 200 and body[1] < 50 and body[2] < 50, body
    session.off_frame(paint_red)
    await asyncio.sleep(0.5)
    body = (await session.snapshot("output"))[200:600].reshape(-1, 3).mean(axis=0)
    assert body[1] > 60  # the test pattern again


async def test_bad_transform_result_is_reported_and_frame_kept(session):
    errors = []
    session.on("error", errors.append)
    session.on_frame(lambda f, i: "not an array", "input", transform=True)
    frame = await session.snapshot("output")
    assert read_stamp(frame) is not None
    await wait_until(lambda: errors, 5, "an error")
    assert "HxWx3 uint8" in str(errors[0])


async def test_pairs_match_by_stamp(session):
    pairs = []

    def pair(inp, out, info):
        pairs.append((read_stamp(inp), read_stamp(out), info.matched_by, inp.shape, out.shape))

    session.on_pair(pair)
    await wait_until(lambda: len(pairs) >= 10, 10, "10 pairs")
    for a, b, how, s1, s2 in pairs:
        assert how == "stamp" and a == b and s1 == s2 == (720, 1280, 3)


async def test_snapshot_and_iterator(session):
    inp = await session.snapshot("input")
    out = await session.snapshot("output")
    assert inp.shape == out.shape == (720, 1280, 3)
    t0 = time.monotonic()
    n = 0
    async for frame, info in session.frames("output", max_fps=5, with_info=True):
        assert frame.shape == (720, 1280, 3) and info.stream == "output"
        n += 1
        if n == 6:
            break
    elapsed = time.monotonic() - t0
    assert 0.8 <= elapsed < 3.0, elapsed  # 6 frames at <= 5 fps
    # the iterator's tap (its worker thread) is gone once the loop ends
    assert not [t for t in threading.enumerate() if t.name.startswith("decart-tap-")]


async def test_frames_from_another_thread_loop(session):
    result = {}

    def worker():
        async def main():
            async for frame in session.frames("output"):
                result["shape"] = frame.shape
                break

        asyncio.run(main())

    t = threading.Thread(target=worker)
    t.start()
    await asyncio.get_running_loop().run_in_executor(None, t.join, 10)
    assert result["shape"] == (720, 1280, 3)


async def test_bad_tap_arguments(session):
    with pytest.raises(InvalidInputError, match="stream"):
        session.on_frame(lambda f, i: None, "sideways")
    with pytest.raises(InvalidInputError, match="callable"):
        session.on_frame(42)
    with pytest.raises(InvalidInputError, match="input.* only"):
        session.on_frame(lambda f, i: f, "output", transform=True)
    with pytest.raises(InvalidInputError, match="not registered"):
        session.off_frame(print)
    with pytest.raises(InvalidInputError):
        await session.snapshot("middle")


async def test_taps_stop_with_the_session(media, background_server):
    s = await RealtimeSession.connect(media=media, base_url=background_server.url)
    taps = [s.on_frame(lambda f, i: None), s.on_pair(lambda a, b, i: None)]
    await s.snapshot()
    assert all(t.running for t in taps)
    s.disconnect()
    assert not any(t.running for t in taps)
