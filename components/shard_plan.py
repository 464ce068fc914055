from typing import NamedTuple

from kfp import dsl

from components import image


@dsl.component(base_image=image("shard_plan"), install_kfp_package=False)
def shard_plan(params: str, regions: str) -> NamedTuple("ShardPlan", shards=list, count=int):
    """The score stage's shards: indices 0 .. S-1 (the ParallelFor's items) and S.

    Args:
        params: JSON of the config's ``acquisition`` section (``shards``, ``images_per_shard``,
            ``batch_size``).
        regions: the regions folder's URI (only the header of its region maps is read).
    """
    import json
    from collections import namedtuple

    from alseg.stages import run_stage
    from alseg.stages.shards import run_plan

    plan = json.loads(run_stage("shard plan", run_plan, json.loads(params), regions))
    return namedtuple("ShardPlan", ["shards", "count"])(plan["shards"], plan["count"])
