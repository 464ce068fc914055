"""The sweep pipeline: ``dsl.ParallelFor`` over experiment configs around ``al_experiment``,
then one report over all of them.

Every config of a sweep must share the pipeline's structure (``alseg.config.structure``). With
``parallelism=1`` the experiments run one after another, so those that share a seed (and data,
regions, label type, initial budget, model and training settings) reuse the round-0 labels and
the round-0 model from the cache instead of retraining them: their differences come from
acquisition alone. ``run_name`` names every experiment's MLflow run: "" = each config's name,
``{name}`` stands for it (``{name}-[[ScheduledTime]]``: new MLflow runs every scheduled night).
"""

import json
from collections.abc import Callable

from kfp import dsl

from alseg.config import ConfigError, ExperimentConfig, pipeline_config_json, structure
from components import images_description
from components.sweep_report import sweep_report
from pipelines.al_experiment import build_pipeline

SWEEP_NAME = "al-sweep"


def build_sweep(name: str, configs: list[ExperimentConfig], parallelism: int = 1,
                configure_task: Callable | None = None) -> Callable:  # fmt: skip
    """A ``@dsl.pipeline`` running every config of ``configs`` (same structure) in a ParallelFor."""
    shapes = {json.dumps(structure(c), sort_keys=True) for c in configs}
    if not configs or len(shapes) > 1:
        raise ConfigError(f"sweep '{name}': configs must share {sorted(shapes)} (one pipeline)")
    experiment_pipeline = build_pipeline(configs[0], configure_task)
    items = [pipeline_config_json(c) for c in configs]

    @dsl.pipeline(name=SWEEP_NAME, description=f"alseg sweep '{name}'; {images_description()}")
    def al_sweep(configs: list = items, experiment: str = "alseg", run_name: str = "") -> str:
        with dsl.ParallelFor(configs, parallelism=parallelism) as config:
            run = experiment_pipeline(config=config, run_name=run_name, experiment=experiment)
        combined = sweep_report(name=name, reports=dsl.Collected(run.output), experiment=experiment)
        combined.set_display_name("sweep report")
        if configure_task is not None:
            configure_task(combined, "report")
        return combined.outputs["Output"]

    return al_sweep
