from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import image


@dsl.component(base_image=image("score"), install_kfp_package=False)
def score(
    params: str,
    round_index: int,
    shard: dict,
    prepared: str,
    regions: str,
    model: Input[Model],
    labels: Input[Dataset],
    scores: Output[Dataset],
) -> str:
    """Score one shard of the pool (batched, streaming).

    The prepared dataset and the region maps come as URIs, not input artifacts: KFP's launcher
    downloads every input artifact whole before the body runs; by URI the shard reads only its
    rows (``alseg.storage.NpyRows``: ranged reads of the ``.npy`` files).

    Args:
        params: JSON of ``seed``, ``device``, ``acquisition``.
        round_index: AL round.
        shard: a ``shard_plan`` item: ``{"index": s, "count": S, ...}`` (numbers may arrive
            as floats).
        prepared: the prepared dataset folder's URI.
        regions: the regions folder's URI.
        model: the round's model.
        labels: the labels so far (pixel pools never query a labelled pixel).
        scores: the shard folder (``scores.parquet``, ``meta.json``) for ``merge_scores``.
    """
    from alseg.stages import registry

    folders = {"prepared": prepared, "regions": regions, "model": model.path,
               "labels": labels.path}  # fmt: skip
    return registry.call("score", params, folders, scores.path, round_index,
                         shard=int(shard["index"]), shards=int(shard["count"]))  # fmt: skip
