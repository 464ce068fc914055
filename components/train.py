from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import image


@dsl.component(base_image=image("train"), install_kfp_package=False)
def train(params: str, round_index: int, prepared: str, labels: Input[Dataset],
          model: Output[Model], regions: str = "", previous_model: Input[Model] = None,
          stage: int = 1) -> str:  # fmt: skip
    """Train the round's model.

    Args:
        params: JSON of ``seed``, ``device``, ``model``, ``train``, ``label``.
        round_index: AL round (seeds the run).
        prepared: the prepared dataset folder's URI (only the train split is read).
        labels: stage 1: the oracle's folder; stage 2: the pseudo stage's folder.
        model: ``model.pt`` + ``model.json``.
        regions: the regions folder's URI (the ``mulactseg`` trainer reads the labelled images'
            maps, ``s4al`` the regions table; others nothing).
        previous_model: the previous round's model (used when ``train.warm_start``).
        stage: 1, or 2 for MulActSeg's retrain on pseudo-labels.
    """
    from alseg.stages import registry

    folders = {
        "prepared": prepared, "labels": labels.path,
        "previous_model": previous_model.path if previous_model is not None else None,
        "regions": regions or None,
    }  # fmt: skip
    label = "train" if stage == 1 else "train stage 2"
    return registry.call("train", params, folders, model.path, round_index, label, stage=stage)
