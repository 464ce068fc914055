import json
from pathlib import Path

import pytest

from alseg.config import ConfigError, load_config, parse_config, stage_params

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.mark.parametrize("preset", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_preset_validates(preset: str) -> None:
    cfg = load_config(CONFIGS / preset, {"data.root": "/data"})
    assert cfg.budget.rounds >= 1


def test_unknown_key_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  iterationz: 5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: field 'train\.iterationz': unknown key"):
        load_config(path)


def test_bad_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"field 'budget\.clicks_per_round'"):
        parse_config({"budget": {"clicks_per_round": -3}})
    with pytest.raises(ConfigError, match=r"field 'acquisition\.policy'"):
        parse_config({"acquisition": {"policy": "coinflip"}})


def test_dataset_other_than_synthetic_needs_a_root() -> None:
    with pytest.raises(ConfigError, match="data.root is required"):
        parse_config({"data": {"dataset": "camvid"}})


def test_base_inheritance_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text("name: p\ntrain: {iterations: 7, lr: 0.5}\n")
    (tmp_path / "child.yaml").write_text("base: parent.yaml\ntrain: {iterations: 9}\n")
    cfg = load_config(tmp_path / "child.yaml", {"seed": 4})
    assert (cfg.name, cfg.train.iterations, cfg.train.lr, cfg.seed) == ("p", 9, 0.5, 4)


def test_missing_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(tmp_path / "list.yaml")


def test_stage_params_hold_only_what_the_stage_reads() -> None:
    cfg = parse_config({"train": {"iterations": 3}})
    assert set(json.loads(stage_params(cfg, "prepare"))) == {"data"}
    changed = parse_config({"train": {"iterations": 4}})
    # a training change leaves the data stages' inputs (hence their cache keys) untouched
    for stage in ("prepare", "regions", "init"):
        assert stage_params(cfg, stage) == stage_params(changed, stage)
    assert stage_params(cfg, "train") != stage_params(changed, "train")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"acquisition.policy": "oreal"}, "acquisition.policy"),
        ({"label.type": "multiclass"}, "label.type"),
        ({"train.trainer": "mulactseg"}, "train.trainer"),
    ],
)
def test_pixel_regions_reject_what_a_point_label_cannot_do(override: dict, named: str) -> None:
    data = {"region": {"type": "pixel"}}
    for key, value in override.items():
        section, field = key.split(".")
        data.setdefault(section, {})[field] = value
    with pytest.raises(ConfigError, match=f"region.type 'pixel'.*{named}"):
        parse_config(data, source="pixel.yaml")


def test_policy_settings_sit_under_the_policy_name() -> None:
    cfg = parse_config({"acquisition": {"policy": "oreal", "oreal": {"aggregation": "max"},
                                        "pixbal": {"nu": 6.0}}})  # fmt: skip
    assert cfg.acquisition.settings.aggregation == "max"
    # only the chosen policy's block is kept, with its defaults filled in
    assert cfg.acquisition.model_dump() == {"policy": "oreal", "batch_size": 8, "oreal": {
        "aggregation": "max", "ovr_kind": "ovr_entropy", "background_class": None}}  # fmt: skip
    assert parse_config(json.loads(cfg.model_dump_json())) == cfg
    # a policy without settings dumps no block
    assert parse_config({"acquisition": {"policy": "classbal"}}).acquisition.model_dump() == {
        "policy": "classbal", "batch_size": 8}  # fmt: skip


def test_a_setting_the_policy_does_not_have_names_the_field() -> None:
    with pytest.raises(
        ConfigError,
        match=r"field 'acquisition\.entropy\.nu': unknown setting "
        r"\(policy 'entropy' takes: aggregation, top_fraction\)",
    ):
        parse_config({"acquisition": {"policy": "entropy", "entropy": {"nu": 3.0}}})
    with pytest.raises(ConfigError, match=r"field 'acquisition\.pixbal\.nu': Input should be"):
        parse_config({"acquisition": {"policy": "entropy", "pixbal": {"nu": -1.0}}})
    with pytest.raises(ConfigError, match=r"field 'acquisition\.orel': unknown key"):
        parse_config({"acquisition": {"policy": "oreal", "orel": {}}})


def test_flat_acquisition_settings_still_load_with_a_deprecation() -> None:
    old = {"policy": "cbal", "cbal_lambda": 1.5, "aggregation": "max"}
    with pytest.warns(FutureWarning, match=r"acquisition\.cbal_lambda -> acquisition\.cbal\.lam"):
        cfg = parse_config({"acquisition": old})
    assert cfg.acquisition.settings.lam == 1.5  # aggregation: not a cbal setting, dropped
    assert cfg == parse_config({"acquisition": {"policy": "cbal", "cbal": {"lam": 1.5}}})
