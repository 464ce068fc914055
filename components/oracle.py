from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("oracle"), install_kfp_package=False)
def oracle(
    params: str,
    round_index: int,
    queries: Input[Dataset],
    prepared: Input[Dataset],
    regions: Input[Dataset],
    init: Input[Dataset],
    labels: Output[Dataset],
    previous_labels: Input[Dataset] = None,
) -> str:
    """Simulated annotator: label the queried regions from ground truth.

    Args:
        params: JSON of ``label``.
        round_index: AL round of the queries.
        queries: ``queries.parquet``.
        prepared: the prepared dataset folder (ground truth).
        regions: region maps + regions table.
        init: region costs and pool cost.
        labels: cumulative labels table + training targets + summary.
        previous_labels: the previous round's labels folder.
    """
    from alseg.stages import registry

    folders = {
        "queries": queries.path, "prepared": prepared.path, "regions": regions.path,
        "init": init.path,
        "previous_labels": previous_labels.path if previous_labels is not None else None,
    }  # fmt: skip
    return registry.call("oracle", params, folders, labels.path, round_index)
