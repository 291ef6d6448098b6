"""What a local model sees: the callable signature and the state it gets.

A local model is any callable ``model(frame, state) -> frame`` where ``frame``
is an ``HxWx3 uint8`` RGB numpy array (of whatever size the client sends) and
the return value is an ``HxWx3 uint8`` RGB array (any size; the server sends
what it returns). ``state`` is a :class:`ModelState`, replaced (never mutated)
whenever the client's prompt or reference image changes, so a model may cache
work keyed on ``state.version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelState", "LocalModel"]


@dataclass(frozen=True)
class ModelState:
    #: The acknowledged text prompt, or None.
    prompt: str | None = None
    #: The client's ``enhance_prompt`` flag for that prompt.
    enhance: bool = True
    #: The decoded reference image (HxWx3 uint8 RGB), or None.
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: Increases by one on every change; cheap cache key.
    version: int = 0
    #: The session this state belongs to.
    session_id: str = ""

    @property
    def is_passthrough(self) -> bool:
        return self.prompt is None and self.image is None


LocalModel = Callable[[np.ndarray, ModelState], np.ndarray]
