"""The AL experiment pipeline: prepare -> regions -> init -> oracle, then per round
train -> evaluate [-> score -> select -> oracle], then report.

Rounds are unrolled at compile time (KFP v2 has no loops with carried state). Every task gets only
the config sections it reads (``alseg.config.stage_params``), so a changed setting re-executes
exactly the tasks that depend on it, locally and on a cluster with caching on.
"""

from collections.abc import Callable

from kfp import dsl

from alseg.config import ExperimentConfig, stage_params
from components.evaluate import evaluate
from components.init_labels import init_labels
from components.oracle import oracle
from components.prepare import prepare
from components.regions import regions
from components.report import report
from components.score import score
from components.select_queries import select_queries
from components.train import train

PIPELINE_NAME = "al-experiment"


def build_pipeline(cfg: ExperimentConfig, configure_task: Callable | None = None) -> Callable:
    """A ``@dsl.pipeline`` for ``cfg`` with its rounds unrolled.

    ``configure_task(task, stage)`` may add platform settings (GPU, retries, secrets) per task.
    """
    params = {
        stage: stage_params(cfg, stage)
        for stage in (
            "prepare",
            "regions",
            "init",
            "train",
            "evaluate",
            "score",
            "select",
            "oracle",
            "report",
        )
    }

    def step(
        task: dsl.PipelineTask, stage: str, round_index: int | None = None
    ) -> dsl.PipelineTask:
        name = stage if round_index is None else f"round {round_index}: {stage}"
        task.set_display_name(name)
        if configure_task is not None:
            configure_task(task, stage)
        return task

    @dsl.pipeline(name=PIPELINE_NAME, description=f"alseg AL experiment '{cfg.name}'")
    def al_experiment(run_name: str = cfg.name, experiment: str = "alseg") -> str:
        prepared = step(prepare(params=params["prepare"]), "prepare").outputs["prepared"]
        region_set = step(regions(params=params["regions"], prepared=prepared), "regions").outputs[
            "regions"
        ]
        init = step(
            init_labels(params=params["init"], prepared=prepared, regions=region_set), "init"
        ).outputs["init"]
        labels = step(
            oracle(
                params=params["oracle"],
                round_index=0,
                queries=init,
                prepared=prepared,
                regions=region_set,
                init=init,
            ),
            "oracle",
            0,
        )
        labels = labels.outputs["labels"]
        model = history = None
        for r in range(cfg.budget.rounds):
            train_args = {"previous_model": model} if cfg.train.warm_start and model else {}
            model = step(
                train(
                    params=params["train"],
                    round_index=r,
                    prepared=prepared,
                    labels=labels,
                    **train_args,
                ),
                "train",
                r,
            ).outputs["model"]
            history_args = {"history": history} if history is not None else {}
            history = step(
                evaluate(
                    params=params["evaluate"],
                    round_index=r,
                    run_name=run_name,
                    experiment=experiment,
                    prepared=prepared,
                    model=model,
                    labels=labels,
                    **history_args,
                ),
                "evaluate",
                r,
            )
            history = history.outputs["evaluation"]
            if r == cfg.budget.rounds - 1:
                break
            scores = step(
                score(
                    params=params["score"],
                    round_index=r,
                    prepared=prepared,
                    regions=region_set,
                    model=model,
                ),
                "score",
                r,
            ).outputs["scores"]
            queries = step(
                select_queries(
                    params=params["select"],
                    round_index=r + 1,
                    scores=scores,
                    init=init,
                    labels=labels,
                    regions=region_set,
                ),
                "select",
                r,
            ).outputs["queries"]
            labels = step(
                oracle(
                    params=params["oracle"],
                    round_index=r + 1,
                    queries=queries,
                    prepared=prepared,
                    regions=region_set,
                    init=init,
                    previous_labels=labels,
                ),
                "oracle",
                r + 1,
            ).outputs["labels"]
        final = step(
            report(
                params=params["report"],
                run_name=run_name,
                experiment=experiment,
                evaluation=history,
                labels=labels,
            ),
            "report",
        )
        return final.outputs["Output"]

    return al_experiment
