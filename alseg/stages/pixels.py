"""Pixel queries (PixelPick, ALGORITHMS.md 2.3 and 3.8) in the init, score, select and oracle
stages.

The pool's region maps hold the flat id y * W + x of every non-void pixel (-1 on void), so a
query row is (image_index, region_id = y * W + x) and costs one click. A round's click budget is
split evenly over the images (``pixels_per_image``). Round 0 draws uniformly among non-void
pixels; later rounds keep, per image, the ``acquisition.top_fraction`` most uncertain pixels
that are neither void nor labelled (score stage, one batched ``topk``) and draw uniformly among
them (select stage). ``random`` uses a uniform random uncertainty map, as PixelPick does.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import torch

from alseg.acquisition.pixelpick import draw_per_image, pixels_per_image, top_uncertain
from alseg.acquisition.uncertainty import pixel_uncertainty
from alseg.config import AcquisitionConfig
from alseg.tables import SCHEMAS, queries_table
from alseg.train import to_input


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


def labelled_pixel_mask(labels: pa.Table, shape: tuple[int, int, int]) -> np.ndarray:
    """bool (N, H * W): pixels already in the labels table."""
    mask = np.zeros((shape[0], shape[1] * shape[2]), bool)
    mask[labels["image_index"].to_numpy(), labels["region_id"].to_numpy()] = True
    return mask


def answer(queries: pa.Table, gt: np.ndarray) -> tuple[np.ndarray, pa.ListArray]:
    """The simulated annotator on pixels: the ground-truth class of each queried pixel ->
    (dominant (Q,) int16, classes list<int16> of one class each)."""
    width = gt.shape[2]
    ys, xs = np.divmod(queries["region_id"].to_numpy().astype(np.int64), width)
    cls = np.asarray(gt[queries["image_index"].to_numpy(), ys, xs]).astype(np.int16)
    if (cls == 255).any():
        raise ValueError("pixel queries must not ask for void pixels")
    offsets = np.arange(len(cls) + 1, dtype=np.int32)
    return cls, pa.ListArray.from_arrays(offsets, pa.array(cls))


def _batch_candidates(start: int, uncertainty: torch.Tensor, excluded: torch.Tensor,
                      top_fraction: float) -> pa.Table:  # fmt: skip
    """Scores-table rows of one batch: each image's top-fraction candidates (step 1)."""
    idx, _ = top_uncertain(uncertainty, excluded, top_fraction)
    b, h, w = uncertainty.shape
    valid = idx < h * w
    score = uncertainty.reshape(b, h * w).gather(1, idx.clamp(max=h * w - 1))[valid].cpu()
    image, _ = torch.nonzero(valid, as_tuple=True)
    n = len(image)
    return pa.table({
        "image_index": (image.cpu() + start).numpy().astype(np.int32),
        "region_id": idx[valid].cpu().numpy().astype(np.int32),
        "score": score.numpy().astype(np.float32),
        "pred_class": np.full(n, -1, np.int16),
        "vector": pa.ListArray.from_arrays(np.zeros(n + 1, np.int32), pa.array([], pa.float32())),
    }, schema=SCHEMAS["scores"])  # fmt: skip


def pixel_score_batches(
    model: torch.nn.Module | None,
    images: np.ndarray,
    maps: np.ndarray,
    labelled: np.ndarray,
    acquisition: AcquisitionConfig,
    seed: int,
    device: str,
) -> Iterator[pa.Table]:
    """Step 1 over the pool, one scores table per batch: uncertainty (B, H, W) of the policy's
    measure (uniform noise for ``random``), void and labelled pixels excluded, each image's top
    fraction kept. labelled: bool (N, H * W)."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, len(images), acquisition.batch_size):
        batch = slice(start, min(start + acquisition.batch_size, len(images)))
        region_map = torch.from_numpy(np.array(maps[batch])).to(device)
        excluded = (region_map < 0) | torch.from_numpy(labelled[batch]).to(device).view_as(
            region_map
        )
        if acquisition.policy == "random":
            uncertainty = torch.rand(region_map.shape, generator=generator).to(device)
        else:
            with torch.no_grad():
                probs = torch.softmax(model(to_input(images[batch], model)).float(), dim=1)
            uncertainty = pixel_uncertainty(probs, acquisition.policy)
        yield _batch_candidates(start, uncertainty, excluded, acquisition.top_fraction)
