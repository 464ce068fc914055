from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Output

from components import image


@dsl.component(base_image=image("regions"), install_kfp_package=False)
def regions(params: str, prepared: str, regions: Output[Dataset]) -> NamedTuple(
    "Regions", summary=str, uri=str
):
    """Superpixels / grid cells of the training pool (parallel over images).

    Args:
        params: JSON of the config's ``data`` and ``region`` sections.
        prepared: the prepared dataset folder's URI (its train images, or with
            ``region.full_resolution`` its images table and the original image files).
        regions: region maps + regions table.

    Returns ``summary`` (JSON) and ``uri``: the folder's storage URI (score shards read their
    rows of the region maps by URI).
    """
    from collections import namedtuple

    from alseg.stages import registry
    from alseg.storage import artifact_uri

    summary = registry.call("regions", params, {"prepared": prepared}, regions.path)
    return namedtuple("Regions", ["summary", "uri"])(summary, artifact_uri(regions.uri))
