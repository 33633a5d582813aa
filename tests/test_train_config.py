"""Tests of npc_lib.model.train_config: TrainConfig presets, overrides, validation, round trip."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras")

from npc_lib.model.train_config import TrainConfig  # noqa: E402
import yaml  # noqa: E402

from npc_lib.profiles import params_dir  # noqa: E402


@pytest.mark.parametrize("preset", ["smoke", "default", "paper"])
def test_train_config_presets_round_trip(preset):
    cfg = TrainConfig.for_preset(preset)
    assert cfg.network.input_shape == (cfg.box_px, cfg.box_px, 1) and cfg.network.head == "risk"
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_train_config_overrides_update_nested_network():
    cfg = TrainConfig.for_preset("default", {"box_px": 24, "network": {"stem_filters": 8}, "pooling": "mean"})
    assert cfg.box_px == 24 and cfg.pooling == "mean"
    assert cfg.network.stem_filters == 8 and cfg.network.input_shape == (24, 24, 1)
    assert cfg.network.stage_widths == TrainConfig.for_preset("default").network.stage_widths


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\): \['epochs'\]"):
        TrainConfig.for_preset("smoke", {"epochs": 3})
    with pytest.raises(ValueError, match="preset must be one of"):
        TrainConfig.for_preset("huge")
    with pytest.raises(ValueError, match="box_px=64 exceeds box_mm / target_spacing = 32"):
        TrainConfig(box_px=64, box_mm=64.0, target_spacing=2.0)
    with pytest.raises(ValueError, match="monitor must be one of"):
        TrainConfig(monitor="auc")
    with pytest.raises(ValueError, match="val_fraction must lie in"):
        TrainConfig(val_fraction=1.0)
    with pytest.raises(ValueError, match="max_instances must be a positive integer or None"):
        TrainConfig(max_instances=0)
    with pytest.raises(ValueError, match="ensemble_size must be a positive integer"):
        TrainConfig(ensemble_size=0)
    with pytest.raises(ValueError, match="cv_ensemble_size must be a positive integer"):
        TrainConfig(cv_ensemble_size=1.5)
    with pytest.raises(ValueError, match="average_last=3 needs val_fraction=0"):
        TrainConfig(average_last=3, val_fraction=0.2)
    with pytest.raises(ValueError, match="predict_flip must be true or false"):
        TrainConfig(predict_flip="yes")




@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_train_config_profile_yml_overrides_are_valid(profile):
    overrides = yaml.safe_load((params_dir() / f"{profile}.yml").read_text())["train"]
    cfg = TrainConfig.for_preset(profile, overrides)
    for key, value in overrides.items():
        if key != "network":
            assert getattr(cfg, key) == value
    for key, value in overrides.get("network", {}).items():
        got = getattr(cfg.network, key)
        assert (list(got) if isinstance(got, tuple) else got) == value


def test_train_config_replace_validates():
    cfg = TrainConfig.for_preset("smoke")
    assert cfg.replace(epochs_cox=7).epochs_cox == 7
    with pytest.raises(ValueError, match="pooling must be one of"):
        cfg.replace(pooling="median")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        cfg.replace(lr_schedule="step")
