from kfp import dsl

from components import image


@dsl.component(base_image=image("shard_plan"), install_kfp_package=False)
def shard_plan(params: str, regions: str) -> list:
    """The score stage's shards, the ParallelFor's items: ``{"index": s, "count": S}`` for
    s = 0 .. S-1.

    One ``list`` output of self-contained items: kfp.local resolves a ParallelFor's items from
    a task's ``Output`` only (not a NamedTuple field), and inside the loop it replaces every
    use of that output by the item (so S cannot come from the list itself).

    Args:
        params: JSON of the config's ``acquisition`` section (``shards``, ``images_per_shard``,
            ``batch_size``).
        regions: the regions folder's URI (only the header of its region maps is read).
    """
    import json

    from alseg.stages import run_stage
    from alseg.stages.shards import run_plan

    plan = json.loads(run_stage("shard plan", run_plan, json.loads(params), regions))
    return [{"index": s, "count": plan["count"]} for s in plan["shards"]]
