from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import image


@dsl.component(base_image=image("evaluate"), install_kfp_package=False)
def evaluate(
    params: str,
    round_index: int,
    run_name: str,
    experiment: str,
    prepared: str,
    model: Input[Model],
    labels: Input[Dataset],
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    history: Input[Dataset] = None,
) -> str:
    """mIoU on the evaluation split; logs the round to MLflow when tracking is configured.

    Args:
        params: JSON of ``device`` and ``train``.
        round_index: AL round.
        run_name: the experiment run's name (MLflow parent run tag).
        experiment: MLflow experiment name.
        prepared: the prepared dataset folder's URI (only the evaluation split is read).
        model: the round's model.
        labels: the oracle's folder (clicks and labelled pixels so far).
        evaluation: ``round_XX.json`` of this and every earlier round.
        metrics: scalar metrics for the KFP UI.
        history: the previous round's evaluation folder.
    """
    import json

    from alseg import tracking
    from alseg.stages import registry

    folders = {
        "prepared": prepared, "model": model.path, "labels": labels.path,
        "history": history.path if history is not None else None,
    }  # fmt: skip
    summary = registry.call("evaluate", params, folders, evaluation.path, round_index)
    result = json.loads(summary)
    scalars = tracking.round_metrics(result)
    for key, value in scalars.items():
        metrics.log_metric(key, value)
    with open(metrics.path, "w") as f:  # a file at the URI keeps the task cacheable locally
        json.dump(scalars, f)
    if tracking.enabled():
        tracking.log_round(run_name, experiment, result)
    return summary
