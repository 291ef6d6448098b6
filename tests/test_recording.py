"""session.record(): MP4 files that decode, with the frames and timestamps expected."""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np
import pytest
from _waits import wait_until

from decart_widgets import InvalidInputError, RealtimeSession


def decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        size = (stream.codec_context.width, stream.codec_context.height)
    return frames, size


def assert_monotonic(frames):
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "timestamps must increase strictly"


@pytest.fixture
async def session(media, background_server):
    s = await RealtimeSession.connect(media=media, base_url=background_server.url)
    await s.snapshot()
    yield s
    s.disconnect()


@pytest.mark.parametrize("streams, size", [("output", (1280, 720)), ("input", (1280, 720)), ("side_by_side", (1280, 360))])
async def test_recording_decodes_with_expected_frames(session, tmp_path, streams, size):
    path = tmp_path / f"{streams}.mp4"
    t0 = time.monotonic()
    with session.record(path, streams=streams) as rec:
        # record for at least 2 s and at least 30 frames (a loaded machine is slow)
        await asyncio.sleep(2.0)
        await wait_until(lambda: rec.frames_written + rec.frames_pending >= 30, 20, "30 frames")
        wall = time.monotonic() - t0
    assert rec.frames_dropped == 0
    frames, got_size = decode(path)
    assert got_size == size
    assert abs(len(frames) - rec.frames_written) <= max(1, 0.05 * rec.frames_written)
    assert_monotonic(frames)
    # the file spans about the wall time it was recording
    duration = float((frames[-1].pts - frames[0].pts) * frames[0].time_base)
    assert 0.7 * wall < duration <= wall + 0.1, (duration, wall)


async def test_output_recording_holds_the_frames_received(session, tmp_path):
    path = tmp_path / "out.mp4"
    before = session.stats()["frames_received"]
    rec = session.record(path)
    await asyncio.sleep(2.0)
    received = session.stats()["frames_received"] - before
    rec.stop()  # waits for the encoder to catch up; frames go on arriving meanwhile
    assert rec.frames_dropped == 0
    frames, _ = decode(path)
    assert abs(len(frames) - received) <= max(2, 0.05 * received), (len(frames), received)


async def test_fps_cap(session, tmp_path):
    before = session.stats()["frames_received"]
    t0 = time.monotonic()
    with session.record(tmp_path / "slow.mp4", fps=5) as rec:
        await asyncio.sleep(2.0)
        elapsed = time.monotonic() - t0
        received = session.stats()["frames_received"] - before
    # the cap: at most 5 frames a second of recording, plus the first and the
    # one frame of slack it keeps so that jitter does not starve it ...
    assert rec.frames_written <= 5 * elapsed + 2, (rec.frames_written, elapsed)
    # ... and no fewer than the cap allows, of the frames that arrived (jitter
    # in their arrival on a busy machine may cost a few)
    assert rec.frames_written >= 0.6 * min(received, 5 * elapsed), (rec.frames_written, received, elapsed)


async def test_recording_survives_a_forced_reconnect(media, background_server, tmp_path):
    session = await RealtimeSession.connect(media=media, base_url=background_server.url)
    try:
        await session.snapshot()
        path = tmp_path / "across.mp4"
        rec = session.record(path)
        await asyncio.sleep(1.0)
        background_server.drop_streams()
        await wait_until(lambda: session.reconnects == 1, 10, "reconnect")
        n = session.stats()["frames_received"]
        await wait_until(lambda: session.stats()["frames_received"] > n + 20, 10, "frames after reconnect")
        rec.stop()
        frames, _ = decode(path)
        assert_monotonic(frames)
        gaps = np.diff([float(f.pts * f.time_base) for f in frames])
        assert gaps.max() > 0.5  # the reconnect shows as a pause
        assert len(frames) >= 30
    finally:
        session.disconnect()


async def test_disconnect_finishes_open_recordings(media, background_server, tmp_path):
    session = await RealtimeSession.connect(media=media, base_url=background_server.url)
    await session.snapshot()
    rec = session.record(tmp_path / "open.mp4")
    await asyncio.sleep(0.5)
    session.disconnect()
    frames, _ = decode(rec.path)
    assert len(frames) > 0
    rec.stop()  # idempotent after the session stopped it


async def test_bad_recording_arguments(session, tmp_path):
    with pytest.raises(InvalidInputError, match="streams"):
        session.record(tmp_path / "x.mp4", streams="both")
    with pytest.raises(InvalidInputError, match="fps"):
        session.record(tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match=".mp4"):
        session.record(tmp_path / "x.gif")
