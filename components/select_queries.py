from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("select"), install_kfp_package=False)
def select_queries(
    params: str,
    round_index: int,
    scores: Input[Dataset],
    init: Input[Dataset],
    labels: Input[Dataset],
    regions: str,
    queries: Output[Dataset],
) -> str:
    """Take the best unlabelled regions until the round's click budget is spent.

    Args:
        params: JSON of ``seed``, ``label``, ``budget``, ``acquisition``.
        round_index: the round the queries are for.
        scores: ``scores.parquet``.
        init: region costs.
        labels: the labels so far (never selected again).
        regions: the regions folder's URI (only its regions table is read).
        queries: ``queries.parquet``.
    """
    from alseg.stages import registry

    folders = {
        "scores": scores.path, "init": init.path, "labels": labels.path, "regions": regions,
    }  # fmt: skip
    return registry.call("select", params, folders, queries.path, round_index)
