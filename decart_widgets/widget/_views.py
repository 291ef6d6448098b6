"""Which browser views of a widget are alive, and which one is the primary.

A widget may be displayed several times (two cells, two browser tabs); the
oldest live view is the primary one: its transport is the one the widget
reports, and in a widget with a camera only it opens the camera. Views say ``hello`` when
rendered, ``ping`` every few seconds and ``bye`` on cleanup; a view not
heard from for :data:`STALE_S` is dropped (its tab closed). A ping from an
unknown view registers it again (its messages waited behind a long cell).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["ViewRegistry", "STALE_S"]

#: Seconds without a message after which a view counts as gone. Long enough
#: that a busy cell (which delays the browser's pings) rarely trips it.
STALE_S = 60.0


@dataclass
class _View:
    view: str
    seen: float = field(default_factory=time.monotonic)
    transport: str | None = None


class ViewRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[str, _View] = {}
        #: True once any view registered (a widget never displayed is not "abandoned").
        self.ever_seen = False

    def touch(self, view: str) -> bool:
        """Record a message from ``view``; True when the view is new."""
        with self._lock:
            v = self._views.get(view)
            if v is None:
                self._views[view] = _View(view)
                self.ever_seen = True
                return True
            v.seen = time.monotonic()
            return False

    def remove(self, view: str) -> bool:
        with self._lock:
            return self._views.pop(view, None) is not None

    def set_transport(self, view: str, name: str | None) -> None:
        with self._lock:
            if view in self._views:
                self._views[view].transport = name

    def drop_stale(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        with self._lock:
            gone = [k for k, v in self._views.items() if now - v.seen > STALE_S]
            for k in gone:
                del self._views[k]
            return gone

    @property
    def primary(self) -> str | None:
        """The oldest view still alive: its transport is the widget's ``transport_in_use``."""
        with self._lock:
            return next(iter(self._views), None)

    @property
    def camera_view(self) -> str | None:
        """The view whose camera feeds the model (a widget with a camera): the primary one."""
        return self.primary

    def transport_of(self, view: str | None) -> str | None:
        with self._lock:
            v = self._views.get(view) if view else None
            return v.transport if v else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._views)
