import json

import pytest

from dcgan.config import RunConfig, apply_overrides, load_config_file
from dcgan.errors import ConfigError


def test_round_trip_through_json(tmp_path):
    cfg = apply_overrides(RunConfig(), {"lr": 0.001, "image_size": 64, "g_batchnorm": False, "name": "x"})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**cfg.to_dict(), "version": "0.1.0", "device_used": "cpu"}))
    again = load_config_file(path)
    assert again == cfg
    assert again.validate().resolved().model.g_width == 64  # the width left at 0 takes the 64 px default


def test_overrides_reject_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match="unknown setting 'learning_rate'"):
        apply_overrides(RunConfig(), {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="epochs expects a whole number"):
        apply_overrides(RunConfig(), {"epochs": "three"})
    with pytest.raises(ConfigError, match="unknown setting 'model.lr'"):
        apply_overrides(RunConfig(), {"model.lr": 0.1})  # lr lives in train


@pytest.mark.parametrize(
    "override, message",
    [
        ({"lr": -1}, "learning rate must be positive"),
        ({"dataset": "imagenet"}, "unknown dataset"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"label_smoothing": 0.7}, "label smoothing"),
        ({"dataset": "folder"}, "needs the path of a folder"),
        ({"name": "../escape"}, "run name"),
        ({"g_width": -4}, "g width"),
        # NaN passes most range checks (every comparison with it is False), infinity passes "> 0"
        ({"checkpoint_every_s": "nan"}, "checkpoint every s must be a finite"),
        ({"checkpoint_every_s": -5}, "positive"),
        ({"lr": "inf"}, "lr must be a finite"),
        ({"beta1": "nan"}, "beta1 must be a finite"),
        ({"leaky_slope": "nan"}, "leaky slope must be a finite"),
        ({"label_smoothing": "-inf"}, "finite"),
        # settings that size memory are bounded: a typo must not ask for gigabytes
        ({"g_width": 2800}, "g width must be a whole number from 0 to 512"),
        ({"z_dim": 10**6}, "z dim"),
        ({"batch_size": 10**7}, "batch size must be at most"),
        ({"sample_count": 10**6}, "sample count"),
        ({"epochs": "1e999"}, "epochs expects a whole number"),
    ],
)
def test_validation_says_what_to_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RunConfig(), override).validate()


def test_config_file_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config_file(tmp_path / "bad.json")
