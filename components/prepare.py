from kfp import dsl
from kfp.dsl import Dataset, Output

from components import image


@dsl.component(base_image=image("prepare"), install_kfp_package=False)
def prepare(params: str, prepared: Output[Dataset]) -> str:
    """Decode, validate and resize the dataset.

    Args:
        params: JSON of the config's ``data`` section.
        prepared: the prepared dataset folder.
    """
    from alseg.stages import registry

    return registry.call("prepare", params, {}, prepared.path)
