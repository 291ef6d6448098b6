"""Sources, taps, recording and stats: the frames of a session."""

from .camera_source import CameraNotFoundError, CameraSource
from .file_source import FileSource
from .image_source import ImageSource
from .numpy_source import NumpySource
from .sources import LiveSource, Source, TestPatternSource
from .taps import FrameInfo, Tap

__all__ = [
    "Source",
    "LiveSource",
    "TestPatternSource",
    "NumpySource",
    "ImageSource",
    "FileSource",
    "CameraSource",
    "CameraNotFoundError",
    "FrameInfo",
    "Tap",
]
