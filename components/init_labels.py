from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def init_labels(
    params: str, prepared: Input[Dataset], regions: Input[Dataset], init: Output[Dataset]
) -> str:
    """Price every region for the label type; pick the random round-0 queries.

    Args:
        params: JSON of ``seed``, ``label`` and ``budget``.
        prepared: the prepared dataset folder (ground truth prices multi-class regions).
        regions: region maps + regions table.
        init: ``costs.npy`` + round-0 ``queries.parquet``.
    """
    import json

    from alseg.stages import labeling, run_stage

    return run_stage(
        "init",
        labeling.run_init,
        json.loads(params),
        prepared.path,
        regions.path,
        init.path,
        round_index=0,
    )
