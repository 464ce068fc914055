from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def regions(params: str, prepared: Input[Dataset], regions: Output[Dataset]) -> str:
    """Superpixels / grid cells of the training pool (parallel over images).

    Args:
        params: JSON of the config's ``data`` and ``region`` sections.
        prepared: the prepared dataset folder.
        regions: region maps + regions table.
    """
    import json

    from alseg.config import DataConfig, RegionConfig
    from alseg.stages import regions as stage
    from alseg.stages import run_stage

    config = json.loads(params)
    workers = DataConfig(**config["data"]).workers
    return run_stage(
        "regions", stage.run, RegionConfig(**config["region"]), prepared.path, regions.path, workers
    )
