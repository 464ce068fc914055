from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import image


@dsl.component(base_image=image("merge"), install_kfp_package=False)
def merge_scores(round_index: int, shards: Input[list[Dataset]], scores: Output[Dataset]) -> str:
    """Concatenate the score shards in pool order and combine the PixBal prior.

    Args:
        round_index: AL round.
        shards: the score shards (``dsl.Collected`` of the ParallelFor; any order).
        scores: ``scores.parquet`` + ``meta.json``, as an unsharded score step writes them.
    """
    from alseg.stages import registry

    folders = {"shards": [shard.path for shard in shards]}
    return registry.call("merge", "{}", folders, scores.path, round_index)
