from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import GPU_IMAGE


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def train(
    params: str,
    round_index: int,
    prepared: Input[Dataset],
    labels: Input[Dataset],
    model: Output[Model],
    previous_model: Input[Model] = None,
) -> str:
    """Train the round's model on the labelled targets.

    Args:
        params: JSON of ``seed``, ``device``, ``model``, ``train``, ``label``.
        round_index: AL round (seeds the run).
        prepared: the prepared dataset folder.
        labels: the oracle's folder (targets of the labelled images).
        model: ``model.pt`` + ``model.json``.
        previous_model: the previous round's model (used when ``train.warm_start``).
    """
    import json

    from alseg.stages import model_stages, run_stage

    previous = previous_model.path if previous_model is not None else None
    return run_stage(
        "train",
        model_stages.run_train,
        json.loads(params),
        round_index,
        prepared.path,
        labels.path,
        model.path,
        previous,
        round_index=round_index,
    )
