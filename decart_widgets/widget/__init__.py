"""The notebook widgets: ``display(DecartLive(model="lucy-2.1"))``, and
``display(DecartView(session))`` for any session's frames, view-only."""

from ._live import DecartLive
from ._view import DecartView

__all__ = ["DecartLive", "DecartView"]
