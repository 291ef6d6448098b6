"""The sending side of a session: the pump that paces the source at the
model's fps, and the bookkeeping of what the server acknowledged (the state
a reconnect restores). A view-only session has no sender."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..errors import InvalidInputError
from ..media.frames import FrameHub
from ..media.meters import LatencyMeter
from ..media.pacing import RateGovernor
from ..media.sources import Source
from ..media.track import FramePump
from ..models import ModelDefinition
from ..signaling import SignalingChannel
from ._types import StateSpec

if TYPE_CHECKING:
    from ..media.output import OutputSink
    from ._supervisor import LinkSupervisor

__all__ = ["Sender", "AckedState", "PACING_INTERVAL", "PACING_WINDOW"]

#: Seconds between two pacing steps, and the window their rates cover.
PACING_INTERVAL = 0.5
PACING_WINDOW = 1.0


class AckedState:
    """The prompt and image the server acknowledged last."""

    def __init__(self) -> None:
        self.spec = StateSpec()
        #: False until something was acknowledged: a reconnect then sends nothing.
        self.has_state = False

    def restore(self) -> StateSpec | None:
        return self.spec if self.has_state else None

    def accepted(self, spec: StateSpec) -> None:
        self.spec, self.has_state = spec, True

    async def apply(self, channel: SignalingChannel, spec: StateSpec, *, image: bool, limit: float) -> None:
        """Send a prompt (``image=False``) or image update, and record it once acknowledged."""
        acked = self.spec
        if image:
            if spec.image_b64 is None and spec.prompt is None and acked.prompt is not None:
                # clearing the image alone must keep the prompt: both null means passthrough
                spec = StateSpec(acked.prompt, acked.enhance, None)
            await channel.request_set_image(
                spec.image_b64, spec.prompt, spec.enhance if spec.prompt is not None else None, limit
            )
            if spec.prompt is not None:
                self.accepted(StateSpec(spec.prompt, spec.enhance, spec.image_b64))
            else:
                self.accepted(StateSpec(acked.prompt, acked.enhance, spec.image_b64))
        elif spec.prompt is not None:
            await channel.request_prompt(spec.prompt, spec.enhance, limit)
            self.accepted(StateSpec(spec.prompt, spec.enhance, acked.image_b64))


class Sender:
    """:param hub: where input frames go before they are sent (transforms, taps).
    :param latency: the session's meter; the pump notes when stamped frames leave."""

    def __init__(self, model: ModelDefinition, source: Source, mirror: bool | str, hub: FrameHub, latency: LatencyMeter) -> None:
        self.pump = FramePump(
            source, model.width, model.height, model.fps, mirror=mirror, latency=latency,
            process=hub.process_input, needs_pixels=hub.needs_input_pixels,
        )
        self.acked = AckedState()
        self.governor = RateGovernor(model.fps)

    async def run_pacing(self, output: OutputSink, supervisor: LinkSupervisor) -> None:
        """Send no more than comes back, one step every :data:`PACING_INTERVAL`
        (the session's task; cancelled when it closes)."""
        link: object = None
        first_output: float | None = None  # on the current link
        while True:
            await asyncio.sleep(PACING_INTERVAL)
            current = supervisor.current_link()
            if current is None or not supervisor.link_up.is_set():
                continue
            new_link, link = current is not link, current
            if new_link:
                first_output = None
            received = output.recent_fps(PACING_WINDOW)
            now = time.perf_counter()
            if first_output is None and received > 0:
                first_output = now
            # judged only once this link's output has flowed for a whole window
            started = first_output is not None and now - first_output >= PACING_WINDOW
            self.pace(received, output_started=started, new_link=new_link)

    def pace(self, received_fps: float, *, output_started: bool, new_link: bool) -> None:
        """Set the pump's rate from what was sent and what came back in the
        last second (see :mod:`decart_widgets.media.pacing`)."""
        if new_link:
            self.governor.reset()
        # Frames the pump forwards encoded (the browser camera over the aiortc
        # link) count as sent (FramePump.note_forwarded ticks the same meter),
        # and the output as it arrives, decoded or not (OutputSink.arrived): the
        # governor judges what the model really gets and returns. Leaving them
        # out would read a forwarding pump as a paused source (nothing judged),
        # and a window that mixes packets and frames as a fraction of the real
        # rate. Its rate cannot thin forwarded frames (each VP8 frame depends on
        # the one before; the pump never drops them): while forwarding it only
        # follows the return rate, and it paces the frames the pump makes once
        # pixels are needed again, from a rate that matches what comes back.
        self.pump.rate = self.governor.observe(
            self.pump.recent_fps_sent(PACING_WINDOW), received_fps, output_started=output_started
        )

    def replace_source(self, source: Source) -> None:
        if not isinstance(source, Source):
            raise InvalidInputError(f"source must be a Source, got {type(source).__name__}")
        old = self.pump.replace_source(source)
        if old is not source:
            old.close()

    def stop(self) -> None:
        self.pump.stop()
