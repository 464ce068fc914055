from typing import NamedTuple

from kfp import dsl

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def configure(config: str, run_name: str) -> NamedTuple(
    "StageParams",
    [("run_name", str), ("prepare", str), ("regions", str), ("init", str), ("train", str),
     ("evaluate", str), ("score", str), ("select", str), ("oracle", str), ("pseudo", str),
     ("report", str)],
):  # fmt: skip
    """Validate an experiment config and split it into each stage's parameters.

    Each stage gets only the sections it reads, so its cache key changes only with them.

    Args:
        config: the experiment config as JSON.
        run_name: the run's name; empty = the config's ``name``.
    """
    import json

    from alseg.config import split_config
    from alseg.stages import run_stage

    params = json.loads(run_stage("configure", split_config, config, run_name))
    return tuple(params.values())
