"""decart-widgets: Decart's realtime video models in Jupyter."""

from ._version import __version__

__all__ = ["__version__"]
