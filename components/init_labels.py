from kfp import dsl
from kfp.dsl import Dataset, Output

from components import image


@dsl.component(base_image=image("init"), install_kfp_package=False)
def init_labels(params: str, prepared: str, regions: str, init: Output[Dataset]) -> str:
    """Price every region for the label type; pick the random round-0 queries.

    Args:
        params: JSON of ``seed``, ``label`` and ``budget``.
        prepared: the prepared dataset folder's URI (multi-class labels: its ground truth
            prices the regions, one image at a time; other label types read none of it).
        regions: the regions folder's URI (its table; region maps for multi-class labels and
            pixel pools).
        init: ``costs.npy`` + round-0 ``queries.parquet``.
    """
    from alseg.stages import registry

    folders = {"prepared": prepared, "regions": regions}
    return registry.call("init", params, folders, init.path, round_index=0)
