from kfp import dsl
from kfp.dsl import Dataset, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def prepare(params: str, prepared: Output[Dataset]) -> str:
    """Decode, validate and resize the dataset.

    Args:
        params: JSON of the config's ``data`` section.
        prepared: the prepared dataset folder.
    """
    import json

    from alseg.config import DataConfig
    from alseg.stages import prepare as stage
    from alseg.stages import run_stage

    data = DataConfig(**json.loads(params)["data"])
    return run_stage("prepare", stage.run, data, prepared.path)
