from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import image


@dsl.component(base_image=image("pseudo"), install_kfp_package=False)
def pseudo(params: str, round_index: int, run_name: str, experiment: str,
           prepared: Input[Dataset], regions: Input[Dataset], labels: Input[Dataset],
           model: Input[Model], pseudo_labels: Output[Dataset]) -> str:  # fmt: skip
    """MulActSeg stage 2: prototype pseudo-labels of the labelled images.

    Args:
        params: JSON of ``device``, ``train``, ``label``.
        round_index: AL round.
        run_name: the experiment run's name (MLflow).
        experiment: MLflow experiment name.
        prepared: the prepared dataset folder.
        regions: region maps + regions table.
        labels: the oracle's folder (multi-class region labels).
        model: the round's stage-1 model.
        pseudo_labels: targets.npy / target_images.npy (as the oracle's) + coverage + summary.
    """
    import json

    from alseg import tracking
    from alseg.stages import registry

    folders = {
        "prepared": prepared.path, "regions": regions.path, "labels": labels.path,
        "model": model.path,
    }  # fmt: skip
    summary = registry.call("pseudo", params, folders, pseudo_labels.path, round_index)
    if tracking.enabled():
        result = json.loads(summary)
        keys = ("pseudo_pixel_accuracy", "pseudo_coverage_pct")
        tracking.log_child_metrics(
            run_name, experiment, round_index, {k: result[k] for k in keys}, step=result["clicks"]
        )
    return summary
