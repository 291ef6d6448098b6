"""The error classes: codes, and the deprecated name kept working."""

from __future__ import annotations

import pytest

import decart_widgets
from decart_widgets import errors
from decart_widgets.errors import DecartError, DecartTimeoutError, MediaUnavailableError


def test_timeout_error_has_a_code_and_a_phase():
    err = DecartTimeoutError("no prompt_ack", phase="prompt_ack")
    assert isinstance(err, DecartError) and isinstance(err, TimeoutError)
    assert err.code == "WEBRTC_TIMEOUT_ERROR" and err.phase == "prompt_ack"
    assert str(err) == "[WEBRTC_TIMEOUT_ERROR] no prompt_ack"


def test_old_timeout_name_still_works_with_a_deprecation_warning():
    with pytest.deprecated_call(match="DecartTimeoutError"):
        old = errors.TimeoutError_
    assert old is DecartTimeoutError
    with pytest.deprecated_call(match="DecartTimeoutError"):
        assert decart_widgets.TimeoutError_ is DecartTimeoutError
    with pytest.raises(AttributeError):
        errors.NoSuchError  # noqa: B018 - the module's __getattr__ must still refuse unknown names


def test_media_unavailable_is_an_import_error_with_its_code():
    err = MediaUnavailableError("no livekit")
    assert isinstance(err, ImportError) and err.code == "MEDIA_UNAVAILABLE"
