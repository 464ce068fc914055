"""The AL experiment pipeline: configure -> prepare -> regions -> init -> oracle, then per round
train [-> pseudo -> train stage 2] -> evaluate [-> score -> select -> oracle], then report.

The config is a runtime parameter (JSON); the ``configure`` task validates it and hands each stage
only the sections it reads (``alseg.config.stage_params``), so a changed setting re-executes
exactly the tasks that depend on it, locally and on a cluster with caching on. Rounds are unrolled
at compile time (KFP v2 has no loops with carried state), so one compiled pipeline serves every
config with the same structure (``alseg.config.structure``: rounds, warm start).

Scoring is sharded at run time: ``shard_plan`` turns ``acquisition.shards`` (or the pool size)
into the shards, a ``dsl.ParallelFor`` per round runs one score task per shard (reading the
prepared images and region maps by URI, its rows only) and ``merge_scores`` gathers them
(``dsl.Collected``) into the folder select reads; the shard count never changes the DAG. With
MulActSeg's stage 2 the pseudo-labels fan out over the same shard items (``merge_pseudo``).
"""

from collections.abc import Callable

from kfp import dsl

from alseg.config import ExperimentConfig, pipeline_config_json, structure
from alseg.stages.registry import STAGES
from components import images_description
from components.configure import configure
from components.evaluate import evaluate
from components.init_labels import init_labels
from components.merge_pseudo import merge_pseudo
from components.merge_scores import merge_scores
from components.oracle import oracle
from components.prepare import prepare
from components.pseudo import pseudo
from components.regions import regions
from components.report import report
from components.score import score
from components.select_queries import select_queries
from components.shard_plan import shard_plan
from components.train import train

PIPELINE_NAME = "al-experiment"


def build_pipeline(cfg: ExperimentConfig, configure_task: Callable | None = None) -> Callable:
    """A ``@dsl.pipeline`` shaped by ``cfg`` (rounds unrolled), taking ``cfg`` as its default.

    ``configure_task(task, stage)`` may add platform settings (GPU, retries, secrets) per task.
    """
    shape = structure(cfg)
    rounds, warm_start = shape["budget.rounds"], shape["train.warm_start"]
    stage2 = shape["train.stage2"]

    def step(task: dsl.PipelineTask, stage: str, round_index: int | None = None, label: str = ""):
        label = label or stage
        task.set_display_name(label if round_index is None else f"round {round_index}: {label}")
        if configure_task is not None:
            configure_task(task, stage)
        return task

    @dsl.pipeline(
        name=PIPELINE_NAME, description=f"alseg active-learning experiment; {images_description()}"
    )
    def al_experiment(
        config: str = pipeline_config_json(cfg), run_name: str = "", experiment: str = "alseg"
    ) -> str:
        params = step(configure(config=config, run_name=run_name), "configure").outputs
        name = params["run_name"]
        prepare_task = step(prepare(params=params["prepare"]), "prepare")
        # later tasks take the prepared set and the regions by URI and read only what they use
        # (KFP's launcher would download an input artifact whole)
        prepared_uri = prepare_task.outputs["uri"]
        regions_task = step(regions(params=params["regions"], prepared=prepared_uri), "regions")
        pool_uri = regions_task.outputs["uri"]
        pseudo_params = {"pseudo": params["pseudo"]} if stage2 else {}
        plan = step(shard_plan(params=params["shard_plan"], prepared=prepared_uri,
                               regions=pool_uri, **pseudo_params), "shard_plan")  # fmt: skip
        init = step(
            init_labels(params=params["init"], prepared=prepared_uri, regions=pool_uri), "init"
        ).outputs["init"]
        labels = step(
            oracle(params=params["oracle"], round_index=0, queries=init, prepared=prepared_uri,
                   regions=pool_uri, init=init),
            "oracle", 0,
        ).outputs["labels"]  # fmt: skip

        def over_shards(component: Callable, stage: str, r: int, **artifacts) -> dsl.Collected:
            """One ``stage`` task per shard plan item, gathered for a merge. An item carries
            all of its task's parameters (the stage's params under its name): kfp.local replaces
            a loop's task-output parameters by the loop item."""
            with dsl.ParallelFor(plan.output) as shard:
                task = step(
                    component(params=getattr(shard, stage),
                              round_index=r, shard=shard, prepared=shard.prepared,
                              regions=shard.regions, **artifacts),
                    stage, r,
                )  # fmt: skip
            return dsl.Collected(task.outputs[STAGES[stage].output])

        model = history = None
        for r in range(rounds):
            warm = {"previous_model": model} if warm_start and model is not None else {}
            model = step(
                train(params=params["train"], round_index=r, prepared=prepared_uri,
                      labels=labels, regions=pool_uri, **warm),
                "train", r,
            ).outputs["model"]  # fmt: skip
            reported = model
            if stage2:  # MulActSeg: pseudo-labels from the stage-1 model, then a retrain
                shards = over_shards(pseudo, "pseudo", r, labels=labels, model=model)
                merged = merge_pseudo(round_index=r, run_name=name, experiment=experiment,
                                      shards=shards)  # fmt: skip
                pseudo_labels = step(merged, "merge_pseudo", r).outputs["pseudo_labels"]
                warm = {"previous_model": model} if warm_start else {}
                reported = step(
                    train(params=params["train"], round_index=r, prepared=prepared_uri,
                          labels=pseudo_labels, stage=2, **warm),
                    "train", r, "train stage 2",
                ).outputs["model"]  # fmt: skip
            earlier = {"history": history} if history is not None else {}
            history = step(
                evaluate(params=params["evaluate"], round_index=r, run_name=name,
                         experiment=experiment, prepared=prepared_uri, model=reported,
                         labels=labels, **earlier),
                "evaluate", r,
            ).outputs["evaluation"]  # fmt: skip
            if r == rounds - 1:
                break
            shards = over_shards(score, "score", r, model=model, labels=labels)
            merged = merge_scores(round_index=r, shards=shards)
            scores = step(merged, "merge", r).outputs["scores"]
            queries = step(
                select_queries(params=params["select"], round_index=r + 1, scores=scores,
                               init=init, labels=labels, regions=pool_uri),
                "select", r,
            ).outputs["queries"]  # fmt: skip
            labels = step(
                oracle(params=params["oracle"], round_index=r + 1, queries=queries,
                       prepared=prepared_uri, regions=pool_uri, init=init,
                       previous_labels=labels),
                "oracle", r + 1,
            ).outputs["labels"]  # fmt: skip
        final = step(
            report(params=params["report"], run_name=name, experiment=experiment,
                   evaluation=history, labels=labels, prepared=prepared_uri, regions=pool_uri),
            "report",
        )  # fmt: skip
        return final.outputs["Output"]

    return al_experiment
