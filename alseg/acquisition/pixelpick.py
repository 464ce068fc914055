"""PixelPick per-image pixel queries: top-k uncertain, then uniform (ALGORITHMS.md §3.8, §2.3).

For uncertainty u (B, H, W) (LARGER = MORE UNCERTAIN; e.g. ``pixel_uncertainty(probs,
"margin")``, which is 1 - (p_(1) - p_(2)) and ranks exactly like PixelPick's smallest-margin
rule) and an ``excluded`` mask (already-labelled pixels and pixels whose GT is void; oracle
knowledge), per image:

1. k = int(H * W * top_fraction) (PixelPick ``--top_n_percent 0.05``); T = the k non-excluded
   pixels with the largest u (``top_uncertain``, one batched ``topk``, score stage);
2. the round's clicks split over the images (``pixels_per_image``), each image's share drawn
   uniformly without replacement from its T sorted by flat index y * W + x
   (``draw_per_image``, select stage).

PixelPick masks excluded pixels to the least-uncertain value instead of removing them, so with
fewer than k available pixels it could draw excluded ones; here they are never drawn. The draw
depends only on the set T (up to ties at the k-th value, where torch.topk's choice is
unspecified).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # top_uncertain (score stage) imports torch; the select-stage draw is numpy
    import torch


def top_uncertain(
    uncertainty: torch.Tensor, excluded: torch.Tensor, top_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 1 for a batch: the k = int(H W top_fraction) most uncertain non-excluded pixels.

    uncertainty (B, H, W) float, excluded (B, H, W) bool -> (idx (B, k) int64 flat ids y W + x,
    each row ascending with the sentinel H W after its valid ids; n_valid (B,) int64). One
    batched ``topk`` on the tensor's device; excluded pixels are never kept.
    """
    import torch

    b, h, w = uncertainty.shape
    excluded = excluded.to(uncertainty.device)
    if torch.isnan(uncertainty).logical_and(~excluded).any():
        raise ValueError(
            "uncertainty must not be NaN at non-excluded pixels, got NaN; "
            "check the probabilities or mark those pixels excluded"
        )
    k = min(int(h * w * top_fraction), h * w)
    flat_ex = excluded.reshape(b, h * w)
    masked = uncertainty.reshape(b, h * w).masked_fill(flat_ex, float("-inf"))
    idx = masked.topk(k, dim=1, sorted=False).indices  # (B, k), sorted by id below
    valid = ~flat_ex.gather(1, idx)
    idx = torch.where(valid, idx, torch.full_like(idx, h * w)).sort(dim=1).values
    return idx, valid.sum(dim=1)


def pixels_per_image(clicks: int, n_images: int, generator: np.random.Generator) -> np.ndarray:
    """Split a round's click budget over images: (n_images,) int64, clicks // n each, and one
    more for clicks % n images drawn uniformly (PixelPick states budgets per image)."""
    counts = np.full(n_images, clicks // max(n_images, 1), np.int64)
    counts[generator.permutation(n_images)[: clicks % max(n_images, 1)]] += 1
    return counts


def draw_per_image(
    image_index: np.ndarray,
    flat_ids: np.ndarray,
    counts: np.ndarray,
    generator: np.random.Generator,
) -> np.ndarray:
    """Step 2 for a pool: per image, ``counts[image]`` of its candidates uniformly without
    replacement (all of them when fewer). Rows of (image_index, flat_ids) sorted by image, then
    id -> chosen row positions (images ascending, draw order within an image)."""
    starts = np.flatnonzero(np.diff(image_index, prepend=-1))
    ends = np.append(starts[1:], len(image_index))
    picked = []
    for start, end in zip(starts, ends, strict=True):  # one uniform draw per image
        n = min(int(counts[image_index[start]]), end - start)
        picked.append(start + generator.choice(end - start, size=n, replace=False))
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)
