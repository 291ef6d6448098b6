"""Sources, taps, recording and stats: the frames of a session."""

from .camera_source import CameraNotFoundError, CameraSource
from .file_source import FileSource
from .image_source import ImageSource
from .numpy_source import NumpySource
from .sources import Source, TestPatternSource
from .taps import FrameInfo

__all__ = [
    "Source",
    "TestPatternSource",
    "NumpySource",
    "ImageSource",
    "FileSource",
    "CameraSource",
    "CameraNotFoundError",
    "FrameInfo",
]
