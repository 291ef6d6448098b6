import warnings

import pytest

from decart_widgets import models
from decart_widgets.errors import InvalidInputError, ModelNotFoundError


def test_registry_matches_protocol():
    m = models.get_model("lucy-2.1")
    assert (m.fps, m.width, m.height, m.url_path) == (30, 1280, 720, "/v1/stream")
    assert models.get_model("lucy-restyle-2").height == 704
    assert set(models.realtime_model_names()) >= {"lucy-2.1", "lucy-2.5", "lucy-2.6", "lucy-latest", "lucy-vton-latest"}


def test_unknown_model_lists_valid_names():
    with pytest.raises(ModelNotFoundError) as info:
        models.get_model("lucy-9000")
    assert info.value.code == "MODEL_NOT_FOUND"
    assert "lucy-2.1" in str(info.value) and "lucy-9000" in str(info.value)


def test_deprecated_alias_warns_once(monkeypatch):
    monkeypatch.setattr(models, "_warned", set())
    with pytest.warns(FutureWarning, match="mirage_v2"):
        assert models.get_model("mirage_v2").name == "lucy-restyle-2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert models.get_model("mirage_v2").name == "lucy-restyle-2"


def test_custom_models_and_validation():
    custom = models.ModelDefinition("my-model", 15, 640, 480)
    assert models.get_model(custom) is custom
    with pytest.raises(InvalidInputError):
        models.ModelDefinition("bad", 0, 640, 480)
    with pytest.raises(InvalidInputError):
        models.ModelDefinition("odd", 30, 641, 480)
    with pytest.raises(InvalidInputError):
        models.get_model(42)


def test_legacy_names_only_when_allowed():
    with pytest.raises(ModelNotFoundError):
        models.get_model("lucy_2_rt")
    assert models.get_model("lucy_2_rt", allow_legacy=True).fps == 20
