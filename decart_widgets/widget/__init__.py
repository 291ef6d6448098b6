"""The notebook widget: ``display(DecartLive(model="lucy-2.1"))``."""

from ._live import DecartLive

__all__ = ["DecartLive"]
