from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import GPU_IMAGE


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
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
        params: JSON of ``seed``, ``device``, ``acquisition``, ``train``.
        round_index: AL round.
        prepared: the prepared dataset folder.
        regions: region maps + regions table.
        model: the round's model.
        labels: the labels so far (pixel pools never query a labelled pixel).
        scores: ``scores.parquet``.
    """
    import json

    from alseg.stages import model_stages, run_stage

    return run_stage(
        "score",
        model_stages.run_score,
        json.loads(params),
        round_index,
        prepared.path,
        regions.path,
        model.path,
        scores.path,
        labels.path,
        round_index=round_index,
    )
