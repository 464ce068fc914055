from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Output

from components import image


@dsl.component(base_image=image("prepare"), install_kfp_package=False)
def prepare(params: str, prepared: Output[Dataset]) -> NamedTuple("Prepared", summary=str, uri=str):
    """Decode, validate and resize the dataset.

    Args:
        params: JSON of the config's ``data`` section.
        prepared: the prepared dataset folder.

    Returns ``summary`` (JSON) and ``uri``: the folder's storage URI, for tasks that read
    only parts of it (score shards) instead of taking it as an input artifact.
    """
    from collections import namedtuple

    from alseg.stages import registry
    from alseg.storage import artifact_uri

    summary = registry.call("prepare", params, {}, prepared.path)
    return namedtuple("Prepared", ["summary", "uri"])(summary, artifact_uri(prepared.uri))
