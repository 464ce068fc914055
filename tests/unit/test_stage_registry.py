"""The stage registry is the one list of stages: components, ``alseg step``, ``configure``, the
cluster profile and the cache keys (config sections) all follow it."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

from alseg.cli import build_parser
from alseg.cluster import CACHING, ClusterProfile
from alseg.config import load_config, pipeline_config_json, split_config, stage_params
from alseg.stages import registry
from alseg.stages.registry import STAGES, Stage

REPO = Path(__file__).parents[2]
WITH_OUTPUT = [s for s in STAGES.values() if s.output]


def component_of(stage: Stage):
    return getattr(importlib.import_module(f"components.{stage.component}"), stage.component)


@pytest.mark.parametrize("stage", STAGES.values(), ids=lambda s: s.name)
def test_component_interface_follows_the_registry(stage: Stage) -> None:
    import components

    spec = component_of(stage).component_spec
    inputs, outputs = spec.inputs or {}, spec.outputs or {}
    assert ("params" in inputs) == bool(stage.sections)
    assert ("round_index" in inputs) == stage.rounds
    for name in stage.required:
        assert name in inputs and not inputs[name].optional, f"{stage.name}: input {name}"
    for name in stage.optional:  # a component may require what `alseg step` leaves optional
        assert name in inputs, f"{stage.name}: input {name}"
    if stage.output:
        assert outputs[stage.output].type.startswith("system."), f"{stage.name}: output"
    assert spec.implementation.container.image == components.image(stage.name)


def test_configure_outputs_are_run_name_and_each_stage_params() -> None:
    from components.configure import configure

    outputs = list(configure.component_spec.outputs)
    assert outputs == ["run_name", *registry.PARAM_STAGES]
    cfg = load_config(REPO / "configs" / "tiny.yaml")
    split = split_config(pipeline_config_json(cfg))
    assert list(split) == outputs
    result = configure.python_func(config=pipeline_config_json(cfg), run_name="")
    # outputs are matched by name (KFP reads a NamedTuple's fields), never by position
    assert result.run_name == "tiny" and result.score == stage_params(cfg, "score")
    assert result.report == stage_params(cfg, "report")


def test_score_cache_key_follows_only_the_sections_it_reads() -> None:
    cfg = load_config(REPO / "configs" / "tiny.yaml")
    changed = load_config(REPO / "configs" / "tiny.yaml", {"train.iterations": 7})
    assert set(json.loads(stage_params(cfg, "score"))) == {"seed", "device", "acquisition"}
    assert stage_params(cfg, "score") == stage_params(changed, "score")
    assert stage_params(cfg, "train") != stage_params(changed, "train")


def test_cluster_profile_and_step_read_the_registry() -> None:
    assert ClusterProfile().gpu_stages == ("train", "evaluate", "score", "pseudo")
    assert CACHING["data"] == ("configure", "prepare", "regions")
    assert CACHING["all"] == tuple(STAGES)
    step = build_parser()._subparsers._group_actions[0].choices["step"]
    choices = next(a.choices for a in step._actions if a.dest == "stage")
    assert sorted(choices) == sorted(s.name for s in WITH_OUTPUT)
    assert "configure" not in choices


@pytest.mark.parametrize("stage", WITH_OUTPUT, ids=lambda s: s.name)
def test_entry_point_takes_the_registry_calling_convention(stage: Stage) -> None:
    """fn(params, [round_index,] *required_dir, out_dir, *optional_dir, **options)."""
    names = list(inspect.signature(stage.function()).parameters)
    expected = ["params", *(["round_index"] if stage.rounds else [])]
    expected += [f"{n}_dir" for n in stage.required] + ["out_dir"]
    expected += [f"{n}_dir" for n in stage.optional] + list(stage.options)
    assert names == expected


def _record(params, round_index, a_dir, out_dir, b_dir, stage=None) -> dict:
    return {"args": [params, round_index, a_dir, out_dir, b_dir], "stage": stage}


def test_call_orders_arguments_and_checks_inputs(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    fake = Stage("fake", f"{__name__}:_record", "fake", sections=("seed",), inputs=("a", "b?"),
                 output="out", rounds=True, options=("stage",))  # fmt: skip
    monkeypatch.setitem(STAGES, "fake", fake)
    summary = json.loads(registry.call("fake", '{"seed": 3}', {"a": "A"}, "O", 2, stage=1))
    assert summary == {"args": [{"seed": 3}, 2, "A", "O", None], "stage": 1}
    assert "round 2 · fake · started" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"missing input folder\(s\) \['a'\]"):
        registry.call("fake", "{}", {"b": "B"}, "O", 0)
    with pytest.raises(ValueError, match="unknown option"):
        registry.call("fake", "{}", {"a": "A"}, "O", 0, other=1)
