from kfp import dsl

from components import image


# KFP runs this def's source on its own in the container, so the return annotation imports the
# outputs itself: run_name, then the params of each stage (alseg.stages.registry.StageParams).
@dsl.component(base_image=image("configure"), install_kfp_package=False)
def configure(config: str, run_name: str) -> __import__(
    "alseg.stages.registry", fromlist=["StageParams"]
).StageParams:
    """Validate an experiment config and split it into each stage's parameters.

    Each stage gets only the sections it reads, so its cache key changes only with them.

    Args:
        config: the experiment config as JSON.
        run_name: the run's name; empty = the config's ``name``.
    """
    import json

    from alseg.config import split_config
    from alseg.stages import run_stage
    from alseg.stages.registry import StageParams

    return StageParams(**json.loads(run_stage("configure", split_config, config, run_name)))
