from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("init"), install_kfp_package=False)
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
    from alseg.stages import registry

    folders = {"prepared": prepared.path, "regions": regions.path}
    return registry.call("init", params, folders, init.path, round_index=0)
