"""MLflow tracking: one parent run per experiment run, one child per AL round.

Runs are found by tags before they are created (``alseg.run_name``, ``alseg.round``), so a retried
or re-executed step updates its run instead of adding a duplicate. Tracking is on when
``MLFLOW_TRACKING_URI`` is set (``alseg run`` sets a local SQLite file by default).
"""

from __future__ import annotations

import os
from typing import Any

RUN_TAG = "alseg.run_name"
ROUND_TAG = "alseg.round"
PARENT_TAG = "mlflow.parentRunId"


def enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _experiment_id(client: Any, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    artifacts = os.environ.get("ALSEG_MLFLOW_ARTIFACT_ROOT")
    return client.create_experiment(experiment, artifact_location=artifacts)


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
        "labeled_pixels_pct": metrics["labeled_pixels_pct"],
    }  # fmt: skip
    for key in ("gini", "auALC", "pct_of_full"):  # AL-curve metrics so far (when known)
        if key in metrics:
            scalars[key] = metrics[key]
    for name, iou in zip(metrics["classes"], metrics["iou"], strict=True):
        if iou == iou:  # skip NaN (class absent from predictions and ground truth)
            scalars[f"iou_{name}"] = iou
    return {k: float(v) for k, v in scalars.items()}


def log_round(run_name: str, experiment: str, metrics: dict) -> str:
    """Log one round into its child run (found by tags or created); returns the child run id."""
    from mlflow.entities import Metric

    client = _client()
    experiment_id = _experiment_id(client, experiment)
    parent = parent_run(run_name, experiment)
    round_tag = str(metrics["round"])
    found = _find(
        client,
        experiment_id,
        [f"tags.`{RUN_TAG}` = '{run_name}'", f"tags.`{ROUND_TAG}` = '{round_tag}'"],
    )
    if found is not None:
        run_id = found.info.run_id
    else:
        run_id = client.create_run(
            experiment_id,
            run_name=f"{run_name}/round-{round_tag}",
            tags={RUN_TAG: run_name, ROUND_TAG: round_tag, PARENT_TAG: parent},
        ).info.run_id
    step = int(metrics["round"])
    scalars = round_metrics(metrics)
    client.log_batch(run_id, metrics=[Metric(k, v, 0, step) for k, v in scalars.items()])
    client.log_batch(
        parent,
        metrics=[Metric(k, scalars[k], 0, step) for k in ("miou", "clicks", "labeled_pixels_pct")],
    )
    client.set_terminated(run_id)
    return run_id


def log_report(run_name: str, experiment: str, report: dict, report_markdown: str) -> None:
    """Final AuALC / Gini / mIoU and the curve table on the parent run."""
    client = _client()
    parent = parent_run(run_name, experiment)
    for key in ("auALC", "gini", "final_miou"):
        client.log_metric(parent, key, float(report[key]))
    client.log_text(parent, report_markdown, "report.md")
    client.set_terminated(parent)
