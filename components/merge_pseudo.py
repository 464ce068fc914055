from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("merge_pseudo"), install_kfp_package=False)
def merge_pseudo(round_index: int, run_name: str, experiment: str,
                 shards: Input[list[Dataset]], pseudo_labels: Output[Dataset]) -> str:  # fmt: skip
    """Join the pseudo shards in the order of the labelled images; log the pseudo-label
    accuracy and coverage (a diagnostic against ground truth) to the round's MLflow run.

    Args:
        round_index: AL round.
        run_name: the experiment run's name (MLflow).
        experiment: MLflow experiment name.
        shards: the pseudo shards (``dsl.Collected`` of the ParallelFor; any order).
        pseudo_labels: targets.npy / target_images.npy (as the oracle's) + coverage + summary.
    """
    import json

    from alseg import tracking
    from alseg.stages import registry

    summary = registry.call("merge_pseudo", "{}", {"shards": [s.path for s in shards]},
                            pseudo_labels.path, round_index)  # fmt: skip
    if tracking.enabled():
        result = json.loads(summary)
        keys = ("pseudo_pixel_accuracy", "pseudo_coverage_pct")
        tracking.log_child_metrics(
            run_name, experiment, round_index, {k: result[k] for k in keys}, step=result["clicks"]
        )
    return summary
