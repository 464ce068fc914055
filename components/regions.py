from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("regions"), install_kfp_package=False)
def regions(params: str, prepared: Input[Dataset], regions: Output[Dataset]) -> str:
    """Superpixels / grid cells of the training pool (parallel over images).

    Args:
        params: JSON of the config's ``data`` and ``region`` sections.
        prepared: the prepared dataset folder.
        regions: region maps + regions table.
    """
    from alseg.stages import registry

    return registry.call("regions", params, {"prepared": prepared.path}, regions.path)
