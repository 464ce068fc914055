from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("oracle"), install_kfp_package=False)
def oracle(
    params: str,
    round_index: int,
    queries: Input[Dataset],
    prepared: str,
    regions: str,
    init: Input[Dataset],
    labels: Output[Dataset],
    previous_labels: Input[Dataset] = None,
) -> str:
    """Simulated annotator: label the queried regions from ground truth.

    Args:
        params: JSON of ``label``.
        round_index: AL round of the queries.
        queries: ``queries.parquet``.
        prepared: the prepared dataset folder's URI (the labelled images' ground truth is
            read, one image at a time).
        regions: the regions folder's URI (its table; the labelled images' region maps).
        init: region costs and pool cost.
        labels: cumulative labels table + training targets + summary.
        previous_labels: the previous round's labels folder.
    """
    from alseg.stages import registry

    folders = {
        "queries": queries.path, "prepared": prepared, "regions": regions,
        "init": init.path,
        "previous_labels": previous_labels.path if previous_labels is not None else None,
    }  # fmt: skip
    return registry.call("oracle", params, folders, labels.path, round_index)
