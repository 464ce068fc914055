from kfp import dsl

from components import image


@dsl.component(base_image=image("shard_plan"), install_kfp_package=False)
def shard_plan(params: str, prepared: str, regions: str, pseudo: str = "") -> list:
    """The pool's shards, the ParallelFor's items: for s = 0 .. S-1, ``{"index": s, "count": S,
    "score", "pseudo", "prepared", "regions"}`` (the parameters of the score and pseudo tasks:
    their params under their stage's name, and the two URIs).

    One ``list`` output of self-contained items: kfp.local resolves a ParallelFor's items from
    a task's ``Output`` only (not a NamedTuple field), and it replaces every task-output
    parameter of a loop by the loop item, so a score task takes all its parameters from it.

    Args:
        params: JSON of the score stage's sections (``acquisition``: ``shards``,
            ``images_per_shard``, ``batch_size``).
        prepared: the prepared dataset folder's URI (passed on).
        regions: the regions folder's URI (only the header of its region maps is read).
        pseudo: JSON of the pseudo stage's sections (passed on; MulActSeg stage 2 only).
    """
    import json

    from alseg.stages import run_stage
    from alseg.stages.shards import run_plan

    plan = json.loads(run_stage("shard plan", run_plan, json.loads(params), regions))
    return [{"index": s, "count": plan["count"], "score": params, "pseudo": pseudo,
             "prepared": prepared, "regions": regions} for s in plan["shards"]]  # fmt: skip
