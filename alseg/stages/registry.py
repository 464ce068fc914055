"""The stage registry: every pipeline stage declared once.

A ``Stage`` names its entry point, the config sections it reads (its KFP ``params`` input, and so
its cache key: ``alseg.config.stage_params``), its input folders, its output folder and its image
kind (cpu or gpu). The KFP components (``components/``), ``alseg step``, the ``configure``
component's outputs and the cluster profile (stage names, default GPU stages, the ``data``
caching policy) all read ``STAGES``; nothing else lists the stages.

Calling convention of an entry point (``call``)::

    fn(params, [round_index,] *required_inputs, out_dir, *optional_inputs, **options)

``round_index`` only for stages with ``rounds=True``; inputs in their declared order, an absent
optional input as ``None``. Entry points are named ``"module:function"`` and imported on first
call, so reading the registry (config validation, the torch-free client) imports no stage code.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from alseg.stages import run_stage


@dataclass(frozen=True)
class Stage:
    """One pipeline stage. ``inputs``: folder names in call order, ``name?`` = optional.
    ``output``: the output folder (the component's Output artifact); ``None`` for ``configure``.
    ``data``: cached under the ``data`` caching policy (dataset preparation, not training).
    ``options``: extra keyword arguments the entry point takes (``alseg step`` / the component)."""

    name: str
    entry: str
    component: str
    sections: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    output: str | None = None
    image: Literal["cpu", "gpu"] = "cpu"
    rounds: bool = False
    data: bool = False
    options: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(n for n in self.inputs if not n.endswith("?"))

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(n.rstrip("?") for n in self.inputs if n.endswith("?"))

    def function(self) -> Callable[..., dict]:
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)


_M = "alseg.stages.model_stages"
_L = "alseg.stages.labeling"

# In pipeline order (the configure outputs and the cluster profile's messages keep it).
STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("configure", "alseg.config:split_config", "configure", data=True),
    Stage("prepare", "alseg.stages.prepare:run_prepare", "prepare",
          sections=("data",), output="prepared", data=True),
    Stage("regions", "alseg.stages.regions:run_regions", "regions",
          sections=("data", "region"), inputs=("prepared",), output="regions", data=True),
    Stage("init", f"{_L}:run_init", "init_labels",
          sections=("seed", "label", "budget"), inputs=("prepared", "regions"), output="init"),
    Stage("train", f"{_M}:run_train", "train",
          sections=("seed", "device", "model", "train", "label"),
          inputs=("prepared", "labels", "previous_model?", "regions?"), output="model",
          image="gpu", rounds=True, options=("stage",)),
    Stage("evaluate", f"{_M}:run_evaluate", "evaluate",
          sections=("device", "train", "reference_miou"),
          inputs=("prepared", "model", "labels", "history?"), output="evaluation",
          image="gpu", rounds=True),
    # sharded scoring (alseg.stages.shards): the plan (the shards, from the pool size; its
    # items carry the score tasks' params, so it reads the score stage's sections) -> a
    # ParallelFor of score tasks, one per shard, reading prepared/regions by URI (ranged
    # reads of their rows only) -> the merge, whose folder select reads
    Stage("shard_plan", "alseg.stages.shards:run_plan", "shard_plan",
          sections=("seed", "device", "acquisition"), inputs=("prepared", "regions")),
    Stage("score", f"{_M}:run_score", "score",
          sections=("seed", "device", "acquisition"),
          inputs=("prepared", "regions", "model", "labels?"), output="scores",
          image="gpu", rounds=True, options=("shard", "shards")),
    Stage("merge", "alseg.stages.shards:run_merge", "merge_scores",
          inputs=("shards",), output="scores", rounds=True),
    Stage("select", f"{_L}:run_select", "select_queries",
          sections=("seed", "label", "budget", "acquisition"),
          inputs=("scores", "init", "labels", "regions"), output="queries", rounds=True),
    Stage("oracle", f"{_L}:run_oracle", "oracle",
          sections=("label",),
          inputs=("queries", "prepared", "regions", "init", "previous_labels?"),
          output="labels", rounds=True),
    # MulActSeg stage 2, sharded as scoring: a ParallelFor of pseudo tasks over the shard
    # plan's items (the labelled images in whole batches; prepared/regions by URI) -> the merge
    Stage("pseudo", "alseg.stages.pseudo_stage:run_pseudo", "pseudo",
          sections=("device", "train", "label"),
          inputs=("prepared", "regions", "labels", "model"), output="pseudo_labels",
          image="gpu", rounds=True, options=("shard", "shards")),
    Stage("merge_pseudo", "alseg.stages.shards:run_merge_pseudo", "merge_pseudo",
          inputs=("shards",), output="pseudo_labels", rounds=True),
    # the report shows the resolved config (all but device and the cluster profile)
    Stage("report", "alseg.stages.report:run", "report",
          sections=("name", "seed", "data", "region", "label", "acquisition", "model", "train",
                    "budget", "reference_miou"),
          inputs=("evaluation", "labels", "prepared?", "regions?"), output="summary",
          options=("run_name",)),
)}  # fmt: skip

STAGE_NAMES: tuple[str, ...] = tuple(STAGES)
GPU_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES.values() if s.image == "gpu")
DATA_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES.values() if s.data)
# stages that take a params input (the configure component's outputs, after run_name)
PARAM_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES.values() if s.sections)
# ``alseg step`` runs the stages that write a folder
STEP_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES.values() if s.output)

# The configure component's outputs: run_name, then each stage's params JSON (by name).
StageParams = NamedTuple("StageParams", [("run_name", str), *((n, str) for n in PARAM_STAGES)])


def call(
    name: str,
    params: str | dict,
    folders: Mapping[str, str | None],
    out: str,
    round_index: int | None = None,
    label: str | None = None,
    **options: Any,
) -> str:
    """Run stage ``name`` through ``run_stage`` with the registry's calling convention.

    ``params``: the stage's params (JSON or parsed); ``folders``: input name -> folder (optional
    ones may be missing or ``None``); ``round_index`` goes to the entry point for round stages
    and into the progress label; ``label`` replaces the stage name in it (``train stage 2``).
    """
    stage = STAGES[name]
    missing = [n for n in stage.required if not folders.get(n)]
    if missing:
        raise ValueError(f"stage {name}: missing input folder(s) {missing}")
    unknown = sorted(set(options) - set(stage.options))
    if unknown:
        raise ValueError(f"stage {name}: unknown option(s) {unknown}; takes {stage.options}")
    args: list[Any] = [json.loads(params) if isinstance(params, str) else params]
    if stage.rounds:
        args.append(round_index)
    args += [folders[n] for n in stage.required]
    args.append(out)
    args += [folders.get(n) for n in stage.optional]
    fn = functools.partial(stage.function(), **options)  # run_stage has its own 'stage'
    return run_stage(label or name, fn, *args, round_index=round_index)
