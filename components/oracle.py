from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
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
    import json

    from alseg.stages import labeling, run_stage

    previous = previous_labels.path if previous_labels is not None else None
    return run_stage(
        "oracle",
        labeling.run_oracle,
        json.loads(params),
        round_index,
        queries.path,
        prepared.path,
        regions.path,
        init.path,
        labels.path,
        previous,
        round_index=round_index,
    )
