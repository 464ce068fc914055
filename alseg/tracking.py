"""MLflow tracking: one parent run per experiment run, one child per AL round.

Runs are found by tags before they are created (``alseg.run_name``, ``alseg.round``), so a retried
or re-executed step updates its run instead of adding a duplicate. Tracking is on when
``MLFLOW_TRACKING_URI`` is set (``alseg run`` sets a local SQLite file by default).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

RUN_TAG = "alseg.run_name"
ROUND_TAG = "alseg.round"
PARENT_TAG = "mlflow.parentRunId"


def enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def _client() -> Any:
    """A client of the store MLFLOW_TRACKING_URI names (explicitly: a URI set earlier in the
    process with mlflow.set_tracking_uri would otherwise win over the environment)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(os.environ.get("MLFLOW_TRACKING_URI"))


def _experiment_id(client: Any, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    from mlflow.exceptions import MlflowException

    artifacts = os.environ.get("ALSEG_MLFLOW_ARTIFACT_ROOT")
    try:
        return client.create_experiment(experiment, artifact_location=artifacts)
    except MlflowException:  # created meanwhile by a concurrent run
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return found.experiment_id


def experiment_id(experiment: str) -> str:
    """Id of the MLflow experiment ``experiment``, created if missing."""
    return _experiment_id(_client(), experiment)


def _find(client: Any, experiment_id: str, filters: list[str]) -> Any | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=" and ".join(filters),
        max_results=1,
        order_by=["attributes.start_time ASC"],
    )
    return runs[0] if runs else None


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    """{'a': {'b': 1}} -> {'a.b': '1'} (MLflow params are flat strings)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def parent_run(
    run_name: str, experiment: str, config: dict | None = None, tags: dict[str, str] | None = None
) -> str:
    """Id of the experiment run's parent run, created (with config as params) if missing."""
    client = _client()
    experiment_id = _experiment_id(client, experiment)
    found = _find(
        client,
        experiment_id,
        [f"tags.`{RUN_TAG}` = '{run_name}'", f"tags.`{ROUND_TAG}` = 'parent'"],
    )
    if found is not None:
        return found.info.run_id
    run = client.create_run(
        experiment_id,
        run_name=run_name,
        tags={RUN_TAG: run_name, ROUND_TAG: "parent", **(tags or {})},
    )
    if config:
        from mlflow.entities import Param

        params = [Param(k, v[:6000]) for k, v in flatten(config).items()]
        for start in range(0, len(params), 100):
            client.log_batch(run.info.run_id, params=params[start : start + 100])
    return run.info.run_id


def round_metrics(metrics: dict) -> dict[str, float]:
    """The scalar metrics logged for a round: mIoU, per-class IoU, clicks, labelled pixels."""
    scalars = {
        "miou": metrics["miou"], "pixel_accuracy": metrics["pixel_accuracy"],
        "clicks": metrics["clicks"], "clicks_pct_of_pool": metrics["clicks_pct_of_pool"],
        "labelled_pixels_pct": metrics["labelled_pixels_pct"],
    }  # fmt: skip
    for key in ("gini", "auALC", "pct_of_full"):  # AL-curve metrics so far (when known)
        if key in metrics:
            scalars[key] = metrics[key]
    for name, iou in zip(metrics["classes"], metrics["iou"], strict=True):
        if iou == iou:  # skip NaN (class absent from predictions and ground truth)
            scalars[f"iou_{name}"] = iou
    return {k: float(v) for k, v in scalars.items()}


def _child_run(client: Any, run_name: str, experiment: str, round_index: int) -> tuple[str, str]:
    """(child run id, parent run id) of one round, found by tags before it is created."""
    experiment_id = _experiment_id(client, experiment)
    parent = parent_run(run_name, experiment)
    tags = [f"tags.`{RUN_TAG}` = '{run_name}'", f"tags.`{ROUND_TAG}` = '{round_index}'"]
    found = _find(client, experiment_id, tags)
    if found is not None:
        return found.info.run_id, parent
    child = client.create_run(
        experiment_id, run_name=f"{run_name}/round-{round_index}",
        tags={RUN_TAG: run_name, ROUND_TAG: str(round_index), PARENT_TAG: parent},
    )  # fmt: skip
    return child.info.run_id, parent


def _metrics(scalars: dict[str, float], step: int) -> list:
    """MLflow metrics at ``step`` (cumulative clicks: MLflow's charts plot mIoU against clicks)
    stamped with the current time."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, int(step)) for k, v in scalars.items()]


def log_child_metrics(
    run_name: str, experiment: str, round_index: int, scalars: dict[str, float], step: int
) -> str:
    """Log extra scalars (e.g. pseudo-label accuracy) into a round's child run at ``step``
    (the round's cumulative clicks)."""
    client = _client()
    run_id, _ = _child_run(client, run_name, experiment, round_index)
    client.log_batch(run_id, metrics=_metrics(scalars, step))
    return run_id


def log_round(run_name: str, experiment: str, metrics: dict) -> str:
    """Log one round into its child run (found by tags or created); returns the child run id.

    Every metric's step is the round's cumulative clicks. The parent run also gets the round's
    mIoU, clicks, labelled pixels, Gini and % of full supervision as a series over clicks (its
    AL curve, drawn by MLflow's own metric chart).
    """
    client = _client()
    run_id, parent = _child_run(client, run_name, experiment, int(metrics["round"]))
    scalars = round_metrics(metrics)
    step = int(metrics["clicks"])
    client.log_batch(run_id, metrics=_metrics(scalars, step))
    curve = ("miou", "clicks", "labelled_pixels_pct", "gini", "pct_of_full")
    series = {"round": metrics["round"], **{k: scalars[k] for k in curve if k in scalars}}
    client.log_batch(parent, metrics=_metrics(series, step))
    client.set_terminated(run_id)
    return run_id


def config_tags(config: dict) -> dict[str, str]:
    """Tags of a parent run from its resolved config: dataset, label type, acquisition,
    trainer, backbone, seed, region type and the method (alseg.reporting.curves.method_name)."""
    from alseg.reporting.curves import method_name

    return {
        "alseg.dataset": config["data"]["dataset"], "alseg.label": config["label"]["type"],
        "alseg.acquisition": config["acquisition"]["policy"],
        "alseg.trainer": config["train"]["trainer"], "alseg.backbone": config["model"]["backbone"],
        "alseg.seed": str(config["seed"]), "alseg.region": config["region"]["type"],
        "alseg.method": method_name(config),
    }  # fmt: skip


REPORT_ARTIFACTS = ("report.md", "report.html", "curve.png", "config.yaml")


def log_report(run_name: str, experiment: str, report: dict, report_dir: str | Path) -> None:
    """Final AuALC / Gini / mIoU (at the final clicks), the config tags and the report files
    (curve table, HTML report, curve PNG, resolved config) on the parent run."""
    client = _client()
    parent = parent_run(run_name, experiment)
    step = report["rounds"][-1]["clicks"]
    final = {k: report[k] for k in ("auALC", "gini", "final_miou")}
    client.log_batch(parent, metrics=_metrics(final, step))
    for key, value in config_tags(report["config"]).items():
        client.set_tag(parent, key, value)
    for name in REPORT_ARTIFACTS:
        client.log_artifact(parent, str(Path(report_dir) / name))
    client.set_terminated(parent)


def log_sweep_page(run_name: str, experiment: str, sweep: str, sweep_dir: str | Path) -> None:
    """The sweep's HTML report and curve on one experiment's parent run (``sweep-<name>/``)."""
    client = _client()
    parent = parent_run(run_name, experiment)
    for name in ("sweep.html", "curve.png"):
        client.log_artifact(parent, str(Path(sweep_dir) / name), f"sweep-{sweep}")


def log_pipeline_spec(run_name: str, experiment: str, spec: str | Path) -> None:
    """The compiled pipeline YAML the run executed, as the parent run's ``pipeline/`` artifact."""
    client = _client()
    client.log_artifact(parent_run(run_name, experiment), str(spec), "pipeline")
