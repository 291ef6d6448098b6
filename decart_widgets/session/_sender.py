"""The sending side of a session: the pump that paces the source at the
model's fps, and the bookkeeping of what the server acknowledged (the state
a reconnect restores). A view-only session has no sender."""

from __future__ import annotations

from ..errors import InvalidInputError
from ..media.frames import FrameHub
from ..media.meters import LatencyMeter
from ..media.sources import Source
from ..media.track import FramePump
from ..models import ModelDefinition
from ..signaling import SignalingChannel
from ._types import StateSpec

__all__ = ["Sender", "AckedState"]


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

    def replace_source(self, source: Source) -> None:
        if not isinstance(source, Source):
            raise InvalidInputError(f"source must be a Source, got {type(source).__name__}")
        old = self.pump.replace_source(source)
        if old is not source:
            old.close()

    def stop(self) -> None:
        self.pump.stop()
