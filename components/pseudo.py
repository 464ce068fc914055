from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import image


@dsl.component(base_image=image("pseudo"), install_kfp_package=False)
def pseudo(params: str, round_index: int, shard: dict, prepared: str, regions: str,
           labels: Input[Dataset], model: Input[Model],
           pseudo_labels: Output[Dataset]) -> str:  # fmt: skip
    """MulActSeg stage 2: prototype pseudo-labels of one shard of the labelled images.

    The prepared dataset and the region maps come as URIs (ranged reads of the shard's images
    only), as for ``score``.

    Args:
        params: JSON of ``device``, ``train``, ``label``.
        round_index: AL round.
        shard: a ``shard_plan`` item: ``{"index": s, "count": S, ...}``.
        prepared: the prepared dataset folder's URI.
        regions: the regions folder's URI.
        labels: the oracle's folder (multi-class region labels).
        model: the round's stage-1 model.
        pseudo_labels: the shard folder (targets, target images, coverage, summary) for
            ``merge_pseudo``.
    """
    from alseg.stages import registry

    folders = {"prepared": prepared, "regions": regions, "labels": labels.path,
               "model": model.path}  # fmt: skip
    return registry.call("pseudo", params, folders, pseudo_labels.path, round_index,
                         shard=int(shard["index"]), shards=int(shard["count"]))  # fmt: skip
