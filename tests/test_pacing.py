"""The upstream rate governor: slower when output falls behind, back up while
it keeps up, never judging before output started; and the pump honours it."""

from __future__ import annotations

import asyncio
import time

import pytest

from decart_widgets.media.pacing import RateGovernor
from decart_widgets.media.sources import TestPatternSource
from decart_widgets.media.track import FramePump


def test_a_model_that_keeps_up_is_never_slowed():
    g = RateGovernor(30)
    for _ in range(20):
        assert g.observe(30, 29.5, output_started=True) == 30
    assert g.decreases == 0


def test_falling_behind_lowers_toward_the_return_rate_then_recovers():
    g = RateGovernor(30, min_fps=5, step_fps=2)
    rate = g.observe(30, 12, output_started=True)
    assert rate == pytest.approx(12 * RateGovernor.HEADROOM)
    assert g.observe(rate, 3, output_started=True) == 5  # never under the floor
    low = g.rate
    assert g.observe(low, low, output_started=True) == low + 2
    for _ in range(30):
        g.observe(g.rate, g.rate, output_started=True)
    assert g.rate == 30


def test_a_stall_halves_the_rate_and_nothing_is_judged_before_output():
    g = RateGovernor(30)
    assert g.observe(30, 0, output_started=False) == 30
    assert g.observe(0, 0, output_started=True) == 30  # nothing sent: paused source
    assert g.observe(30, 0, output_started=True) == 15
    g.reset()
    assert g.rate == 30


async def test_the_pump_sends_at_the_lowered_rate():
    pump = FramePump(TestPatternSource(), 160, 120, 30)
    try:
        await pump.next_frame()
        pump.rate = 10
        t0 = time.perf_counter()
        frames = [await pump.next_frame() for _ in range(6)]
        elapsed = time.perf_counter() - t0
        assert elapsed >= 6 / 10 * 0.9, f"6 frames at 10 fps took {elapsed:.2f} s"
        # timestamps stay on the model's clock: pts grows with real time
        assert frames[-1].pts > frames[0].pts
        pump.rate = 30
        t0 = time.perf_counter()
        for _ in range(6):
            await pump.next_frame()
        assert time.perf_counter() - t0 < 6 / 10 * 0.9
    finally:
        pump.stop()
        await asyncio.sleep(0)


async def test_forwarded_frames_count_as_sent_and_the_governor_stays_sensible():
    """A pump forwarding the camera's encoded frames (note_forwarded): they
    tick the meter the governor reads, so it judges them (not a paused
    source); a model that returns them all is never slowed, and one that
    falls behind brings the rate to the return rate once, not to the floor."""
    from decart_widgets.media.frames import FrameHub
    from decart_widgets.media.meters import LatencyMeter
    from decart_widgets.models import ModelDefinition
    from decart_widgets.session._sender import Sender

    latency = LatencyMeter()
    hub = FrameHub(asyncio.get_running_loop(), 30, latency, lambda error: None)
    sender = Sender(ModelDefinition(name="pace", fps=30, width=160, height=120), TestPatternSource(), False, hub, latency)
    pump = sender.pump
    try:
        for _ in range(30):  # a second's worth of forwarded camera frames
            pump.note_forwarded()
        assert pump.frames_sent == pump.frames_forwarded == 30
        assert pump.recent_fps_sent(1.0) == pytest.approx(30)
        for _ in range(5):
            sender.pace(30, output_started=True, new_link=False)
        assert pump.rate == 30 and sender.governor.decreases == 0
        for _ in range(5):
            sender.pace(12, output_started=True, new_link=False)
        assert pump.rate == pytest.approx(12 * RateGovernor.HEADROOM) and sender.governor.decreases == 1
    finally:
        sender.stop()
        hub.close()
