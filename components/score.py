from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import image


@dsl.component(base_image=image("score"), install_kfp_package=False)
def score(
    params: str,
    round_index: int,
    prepared: Input[Dataset],
    regions: Input[Dataset],
    model: Input[Model],
    labels: Input[Dataset],
    scores: Output[Dataset],
) -> str:
    """Score every region of the pool (batched, streaming).

    Args:
        params: JSON of ``seed``, ``device``, ``acquisition``.
        round_index: AL round.
        prepared: the prepared dataset folder.
        regions: region maps + regions table.
        model: the round's model.
        labels: the labels so far (pixel pools never query a labelled pixel).
        scores: ``scores.parquet``.
    """
    from alseg.stages import registry

    folders = {
        "prepared": prepared.path, "regions": regions.path, "model": model.path,
        "labels": labels.path,
    }  # fmt: skip
    return registry.call("score", params, folders, scores.path, round_index)
