from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def select_queries(
    params: str,
    round_index: int,
    scores: Input[Dataset],
    init: Input[Dataset],
    labels: Input[Dataset],
    regions: Input[Dataset],
    queries: Output[Dataset],
) -> str:
    """Take the best unlabelled regions until the round's click budget is spent.

    Args:
        params: JSON of ``seed``, ``label``, ``budget``.
        round_index: the round the queries are for.
        scores: ``scores.parquet``.
        init: region costs.
        labels: the labels so far (never selected again).
        regions: regions table.
        queries: ``queries.parquet``.
    """
    import json

    from alseg.stages import labeling, run_stage

    return run_stage(
        "select",
        labeling.run_select,
        json.loads(params),
        round_index,
        scores.path,
        init.path,
        labels.path,
        regions.path,
        queries.path,
        round_index=round_index,
    )
