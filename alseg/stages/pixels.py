"""Pixel queries (PixelPick, ALGORITHMS.md 2.3 and 3.8) in the init, score, select and oracle
stages.

The pool's region maps hold the flat id y * W + x of every non-void pixel (-1 on void), so a
query row is (image_index, region_id = y * W + x) and costs one click. A round's click budget is
split evenly over the images (``pixels_per_image``). Round 0 draws uniformly among non-void
pixels; later rounds keep, per image, the policy's ``top_fraction`` most uncertain pixels that
are neither void nor labelled (score stage: ``Policy.pixel_uncertainty``, one batched ``topk``)
and draw uniformly among them (select stage). ``random`` uses a uniform random uncertainty map,
as PixelPick does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from alseg import IGNORE, oracle
from alseg.acquisition.pixelpick import draw_per_image, pixels_per_image
from alseg.acquisition.policies import Policy, PoolBatch
from alseg.labels import rows_by_image
from alseg.tables import queries_table, scores_table

if TYPE_CHECKING:  # the score-stage functions import torch; init, select and oracle do not
    import torch


def initial_queries(maps: np.ndarray, clicks: int, seed: int) -> pa.Table:
    """Round 0: per image, ``pixels_per_image`` non-void pixels drawn uniformly (seeded)."""
    generator = np.random.default_rng(seed)
    counts = pixels_per_image(clicks, len(maps), generator)
    image_index, flat_ids = np.nonzero(np.asarray(maps).reshape(len(maps), -1) >= 0)
    picked = draw_per_image(image_index, flat_ids, counts, generator)
    n = len(picked)
    return queries_table(0, image_index[picked], flat_ids[picked], np.zeros(n), np.ones(n))


def select_queries(scored: pa.Table, round_index: int, clicks: int, seed: int) -> pa.Table:
    """Step 2: per image with candidates (the scores table of ``pixel_score_batches``), draw
    its share of ``clicks`` uniformly among them."""
    image_index = scored["image_index"].to_numpy()
    flat_ids = scored["region_id"].to_numpy()
    order = np.lexsort((flat_ids, image_index))
    image_index, flat_ids = image_index[order], flat_ids[order]
    score = scored["score"].to_numpy()[order]
    generator = np.random.default_rng(seed)
    images = np.unique(image_index)
    counts = np.zeros(int(image_index.max(initial=-1)) + 1, np.int64)
    counts[images] = pixels_per_image(clicks, len(images), generator)
    picked = draw_per_image(image_index, flat_ids, counts, generator)
    return queries_table(
        round_index, image_index[picked], flat_ids[picked], score[picked], np.ones(len(picked))
    )


def answer(queries: pa.Table, gt: np.ndarray) -> tuple[np.ndarray, pa.ListArray]:
    """The simulated annotator on pixels (``oracle.pixel_labels``, one call per queried
    image) -> (dominant (Q,) int16, classes list<int16> of one class each)."""
    image_index = queries["image_index"].to_numpy()
    ys, xs = np.divmod(queries["region_id"].to_numpy().astype(np.int64), gt.shape[2])
    cls = np.empty(len(queries), np.int16)
    for rows in rows_by_image(image_index):
        cls[rows] = oracle.pixel_labels(gt[image_index[rows[0]]], ys[rows], xs[rows], IGNORE)
    if (cls < 0).any():
        raise ValueError("pixel queries must not ask for void pixels")
    offsets = np.arange(len(cls) + 1, dtype=np.int32)
    return cls, pa.ListArray.from_arrays(offsets, pa.array(cls))


def _batch_candidates(start: int, uncertainty: torch.Tensor, excluded: torch.Tensor,
                      top_fraction: float) -> pa.Table:  # fmt: skip
    """Scores-table rows of one batch: each image's top-fraction candidates (step 1)."""
    import torch

    from alseg.acquisition.pixelpick import top_uncertain

    idx, _ = top_uncertain(uncertainty, excluded, top_fraction)
    b, h, w = uncertainty.shape
    valid = idx < h * w
    score = uncertainty.reshape(b, h * w).gather(1, idx.clamp(max=h * w - 1))[valid].cpu()
    image, _ = torch.nonzero(valid, as_tuple=True)
    return scores_table(image.cpu().numpy() + start, idx[valid].cpu().numpy(), score.numpy())


def pixel_score_batches(
    model: torch.nn.Module | None,
    images: np.ndarray,
    maps: np.ndarray,
    labelled: np.ndarray,
    policy: Policy,
    batch_size: int,
    seed: int,
    device: str,
    first: int = 0,
) -> Iterator[pa.Table]:
    """Step 1 over ``images`` (pool rows ``first``, ``first + 1``, ...), one scores table per
    batch: the policy's pixel uncertainty (B, H, W) (uniform noise for ``random``), void and
    labelled pixels excluded, each image's top fraction kept. labelled: bool (N, H * W) of
    ``images``. The pool-wide generator first draws the (B, H, W) noise of the batches before
    ``first``, so a shard's draws are the unsharded run's."""
    import torch

    from alseg.predict import predict_batches

    generator = torch.Generator().manual_seed(seed)
    for start in range(0, first, batch_size):
        torch.rand((min(batch_size, first - start), *maps.shape[1:]), generator=generator)
    for rows, probs in predict_batches(model, images, batch_size):
        region_map = torch.from_numpy(np.array(maps[rows])).to(device)
        labelled_map = torch.from_numpy(labelled[rows]).to(device).view_as(region_map)
        batch = PoolBatch(probs, region_map, -1, first + rows.start, seed, generator)
        uncertainty = policy.pixel_uncertainty(batch)
        excluded = (region_map < 0) | labelled_map
        yield _batch_candidates(first + rows.start, uncertainty, excluded,
                                policy.settings.top_fraction)  # fmt: skip
