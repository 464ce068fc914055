"""Pixel -> region aggregation (ALGORITHMS.md §3.2 "Region aggregation"). Vectorized torch;
p95 on CPU by a compiled kernel (``alseg.acquisition.rank_select``).

Regions are per image: ``regions (B, H, W)`` int ids in ``0 .. n_regions - 1``, ``-1`` = no
region (such pixels are ignored). Region r of image b maps to the flat segment
``b * n_regions + r``; every function works on the flat segments in one pass, with no loop over
regions or images. A region with no pixels gets NaN (or a zero histogram).
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

AGGREGATIONS: tuple[str, ...] = ("mean", "max", "p95")


def _check_regions(regions: torch.Tensor, hw_shape: tuple[int, ...], n_regions: int) -> bool:
    """Guard: integer (B, H, W) ids matching ``hw_shape`` with -1 <= id < n_regions.

    Returns True when every pixel has a region (no -1), which lets callers skip masking.
    """
    if not isinstance(regions, torch.Tensor):
        raise ValueError(
            f"regions must be a torch.Tensor (B, H, W), got {type(regions).__name__}; "
            "convert with torch.as_tensor(region_maps)"
        )
    if regions.is_floating_point() or regions.is_complex() or regions.dtype == torch.bool:
        raise ValueError(
            f"regions must be an integer tensor, got dtype {regions.dtype}; "
            "cast with regions.long()"
        )
    if tuple(regions.shape) != tuple(hw_shape):
        raise ValueError(
            f"regions must have shape {tuple(hw_shape)} (B, H, W), got {tuple(regions.shape)}; "
            "pass one region map per image at the resolution of the scores"
        )
    if n_regions < 0:
        raise ValueError(f"n_regions must be >= 0, got {n_regions}; pass max region id + 1")
    if regions.numel():
        lo, hi = int(regions.min()), int(regions.max())
        if hi >= n_regions:
            raise ValueError(
                f"region ids must be < n_regions={n_regions}, got max id {hi}; "
                "pass n_regions = max region id + 1"
            )
        if lo < -1:
            raise ValueError(
                f"region ids must be >= -1 (-1 = no region), got min id {lo}; "
                "mark pixels outside every region with -1"
            )
        return lo >= 0
    return True


def _flat_segments(
    regions: torch.Tensor, n_regions: int, all_valid: bool = False
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(valid mask (B, H, W) bool or None if every pixel is valid, flat segment id
    b * n_regions + r of the valid pixels (P,))."""
    regions = regions.long()
    batch = torch.arange(regions.shape[0], device=regions.device).view(-1, 1, 1)
    seg = batch * n_regions + regions
    if all_valid:
        return None, seg.reshape(-1)
    valid = regions >= 0
    return valid, seg[valid]


def region_row_ids(
    regions: torch.Tensor, hw_shape: tuple[int, ...], n_regions: int, device: torch.device
) -> torch.Tensor:
    """Checked region ids (B, H, W) -> (B, H W) int64 on ``device``, for scatters along rows of
    n_regions + 1 columns: the pixels of region -1 go to column n_regions."""
    all_valid = _check_regions(regions, hw_shape, n_regions)
    ids = regions.to(device).long().reshape(regions.shape[0], -1)
    return ids if all_valid else torch.where(ids < 0, n_regions, ids)


def _acc_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def aggregate_regions(
    pixel_scores: torch.Tensor, regions: torch.Tensor, n_regions: int, how: str
) -> torch.Tensor:
    """Aggregate ``pixel_scores`` (B, H, W) over ``regions`` (B, H, W) -> (B, n_regions) float32.

    ``how``:
    - ``mean``: s(r) = (1/|r|) sum_{x in r} u(x)  (Cai, MulActSeg, OREAL mean_agg).
    - ``max``: s(r) = max_{x in r} u(x)  (OREAL max_agg).
    - ``p95``: nearest-rank 95th percentile, the value at 1-based rank ceil(0.95 |r|) of the
      region's pixel scores sorted ascending (|r| = 1 -> the value; |r| = 20 -> 19th).
    Regions without pixels are NaN; pixels with region id -1 are ignored.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}; pick one of those")
    if not isinstance(pixel_scores, torch.Tensor) or pixel_scores.ndim != 3:
        shape = tuple(pixel_scores.shape) if isinstance(pixel_scores, torch.Tensor) else None
        raise ValueError(
            f"pixel_scores must be a (B, H, W) tensor, got {shape}; "
            "use pixel_uncertainty(...) output"
        )
    if not pixel_scores.is_floating_point():
        raise ValueError(
            f"pixel_scores must be floating, got dtype {pixel_scores.dtype}; cast with .float()"
        )
    if how == "p95":
        return region_p95(pixel_scores.unsqueeze(1), regions, n_regions).squeeze(2)
    all_valid = _check_regions(regions, tuple(pixel_scores.shape), n_regions)
    regions = regions.to(pixel_scores.device)
    n_seg = pixel_scores.shape[0] * n_regions
    valid, seg = _flat_segments(regions, n_regions, all_valid)
    vals = pixel_scores.reshape(-1) if valid is None else pixel_scores[valid]
    vals = vals.to(_acc_dtype(pixel_scores))
    counts = torch.bincount(seg, minlength=n_seg)
    nan = torch.tensor(float("nan"), dtype=vals.dtype, device=vals.device)

    if how == "mean":
        sums = torch.zeros(n_seg, dtype=vals.dtype, device=vals.device).scatter_add_(0, seg, vals)
        out = torch.where(counts > 0, sums / counts.clamp_min(1), nan)
    elif how == "max":  # from -inf (include_self=False is ~3x slower on CPU); empty -> NaN
        out = torch.full((n_seg,), float("-inf"), dtype=vals.dtype, device=vals.device)
        out = torch.where(counts > 0, out.scatter_reduce_(0, seg, vals, "amax"), nan)
    return out.view(pixel_scores.shape[0], n_regions).to(torch.float32)


def _sorted_rank_values(vals: torch.Tensor, seg: torch.Tensor, counts: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Value at 0-based ``target`` of each segment's values sorted ascending (NaN last), NaN
    where target < 0. One sort by value, then a stable sort by segment keeps values ascending
    inside each segment: segment s occupies [offset_s, offset_s + count_s)."""
    nan = torch.tensor(float("nan"), dtype=vals.dtype, device=vals.device)
    if not vals.numel():
        return nan.expand(counts.shape).clone()
    by_val = torch.argsort(vals)
    by_seg = torch.argsort(seg[by_val], stable=True)
    sorted_vals = vals[by_val][by_seg]
    offsets = torch.cumsum(counts, 0) - counts
    pick = torch.where(target >= 0, offsets + target, 0)
    return torch.where(target >= 0, sorted_vals[pick], nan)


def region_class_histogram(
    pred: torch.Tensor, regions: torch.Tensor, n_regions: int, num_classes: int
) -> torch.Tensor:
    """Count predicted classes per region -> (B, n_regions, num_classes) int64.

    hist[b, r, c] = |{x : regions[b, x] = r, pred[b, x] = c}|. pred (B, H, W) int class ids in
    ``0 .. num_classes - 1`` (e.g. argmax of probs); pixels with region -1 are ignored.
    """
    if not isinstance(pred, torch.Tensor) or pred.ndim != 3:
        shape = tuple(pred.shape) if isinstance(pred, torch.Tensor) else None
        raise ValueError(
            f"pred must be a (B, H, W) tensor of class ids, got {shape}; use probs.argmax(dim=1)"
        )
    if pred.is_floating_point() or pred.dtype == torch.bool:
        raise ValueError(f"pred must be integer class ids, got dtype {pred.dtype}; use .long()")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}; pass C")
    return _region_class_bins(pred, regions, n_regions, num_classes, None).long()


def region_class_sums(
    values: torch.Tensor,
    pred: torch.Tensor,
    regions: torch.Tensor,
    n_regions: int,
    num_classes: int,
) -> torch.Tensor:
    """Sum ``values`` (B, H, W) per region and predicted class -> (B, n_regions, num_classes).

    sums[b, r, c] = sum of values[b, x] over x with regions[b, x] = r and pred[b, x] = c: one
    weighted bincount, no (B, C, H, W) one-hot (used by PixBal's one-pass statistics).
    """
    if tuple(values.shape) != tuple(pred.shape):
        raise ValueError(f"values {tuple(values.shape)} and pred {tuple(pred.shape)} must match")
    return _region_class_bins(pred, regions, n_regions, num_classes, values)


def _region_class_bins(
    pred: torch.Tensor,
    regions: torch.Tensor,
    n_regions: int,
    num_classes: int,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    all_valid = _check_regions(regions, tuple(pred.shape), n_regions)
    regions = regions.to(pred.device)
    valid, seg = _flat_segments(regions, n_regions, all_valid)
    cls = (pred.reshape(-1) if valid is None else pred[valid]).long()
    if cls.numel() and (int(cls.min()) < 0 or int(cls.max()) >= num_classes):
        raise ValueError(
            f"pred ids inside regions must lie in [0, {num_classes}), got "
            f"[{int(cls.min())}, {int(cls.max())}]; pass num_classes = number of model outputs"
        )
    if weights is not None:
        weights = (weights.reshape(-1) if valid is None else weights[valid]).double()
    n_bins = pred.shape[0] * n_regions * num_classes
    bins = torch.bincount(seg * num_classes + cls, weights=weights, minlength=n_bins)
    return bins.view(pred.shape[0], n_regions, num_classes)


def region_means(values: torch.Tensor, regions: torch.Tensor, n_regions: int) -> torch.Tensor:
    """Mean vector per region: values (B, K, H, W) -> (B, n_regions, K) float32.

    m[b, r] = (1/|r|) sum_{x in r} values[b, :, x] (e.g. mean probability vector p̄(r) for CBAL);
    NaN rows for regions without pixels; pixels with region -1 are ignored.
    """
    return region_vectors(values, regions, n_regions, "mean")


def region_vectors(values: torch.Tensor, regions: torch.Tensor, n_regions: int,
                   how: str) -> torch.Tensor:  # fmt: skip
    """Reduce every channel per region: values (B, K, H, W) -> (B, n_regions, K) float32.

    ``how`` = ``mean`` or ``max``: one scatter along the pixel axis of every (image, channel)
    row of the (B, K, H W) layout (the model's contiguous output; no transposed copy); pixels
    outside every region (-1) go to a spare column n_regions, dropped at the end. ``p95``:
    ``region_p95``. NaN rows for empty regions.
    """
    if not isinstance(values, torch.Tensor) or values.ndim != 4:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else None
        raise ValueError(
            f"values must be a (B, K, H, W) tensor, got {shape}; add axes with unsqueeze"
        )
    if not values.is_floating_point():
        raise ValueError(f"values must be floating, got dtype {values.dtype}; use .float()")
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}; pick one of those")
    if how == "p95":
        return region_p95(values, regions, n_regions)
    b, k, h, w = values.shape
    ids = region_row_ids(regions, (b, h, w), n_regions, values.device).unsqueeze(1)
    index = ids.expand(b, k, h * w)
    vals = values.contiguous().reshape(b, k, h * w).to(_acc_dtype(values))
    shape = (b, k, n_regions + 1)
    counts = torch.zeros(b, 1, n_regions + 1, dtype=vals.dtype, device=vals.device)
    counts.scatter_add_(2, ids, torch.ones_like(ids, dtype=vals.dtype))
    if how == "mean":
        sums = torch.zeros(shape, dtype=vals.dtype, device=vals.device).scatter_add_(2, index, vals)
        out = torch.where(counts > 0, sums / counts.clamp_min(1), float("nan"))
    else:  # from -inf, as in aggregate_regions
        out = torch.full(shape, float("-inf"), dtype=vals.dtype, device=vals.device)
        out = torch.where(counts > 0, out.scatter_reduce_(2, index, vals, "amax"), float("nan"))
    return out[..., :n_regions].permute(0, 2, 1).to(torch.float32).contiguous()


def region_p95(values: torch.Tensor, regions: torch.Tensor, n_regions: int,
               fold_half: bool = False) -> torch.Tensor:  # fmt: skip
    """Nearest-rank 95th percentile per (image, region, channel), as ``aggregate_regions``:
    values (B, K, H, W) float (any strides), regions (B, H, W), -1 = no region ->
    (B, n_regions, K) float32, NaN for a region without pixels; NaN values sort last.
    ``fold_half``: the percentile of min(v, 1 - v) (float32) instead of v.

    On CPU a compiled radix select inside each region (``rank_select.region_percentile``);
    elsewhere two sorts of every value (``_sorted_rank_values``). Both exact, so equal.
    """
    b, k, h, w = values.shape
    vals = values.detach().to(torch.float32).reshape(b, k, h * w)  # a view where strides allow
    ids = region_row_ids(regions, (b, h, w), n_regions, vals.device)  # no region: n_regions
    if vals.device.type == "cpu":
        out = _p95_compiled(vals.numpy(), ids.contiguous().numpy(), n_regions, fold_half)
        return torch.from_numpy(out)
    return _p95_by_sorting(vals, ids, n_regions, fold_half)


def _p95_compiled(vals: np.ndarray, ids: np.ndarray, n_regions: int,
                  fold_half: bool) -> np.ndarray:  # fmt: skip
    """``region_p95`` on CPU: ``rank_select.region_percentile`` on vals (B, K, P) and ids (B, P)
    in [0, n_regions] (n_regions: no region), one image per call, the images taken in turn by
    this thread and by torch.get_num_threads() - 1 helpers (the kernel releases the GIL).

    Taken in turn, not split evenly: right after a forward torch's OpenMP workers spin on the
    other cores for several ms, and a helper that shares a core with one runs at a fraction of
    full speed, so an even split waits for it (measured slower than one thread there). Each
    image is reduced on its own: the result does not depend on who took it."""
    from alseg.acquisition.rank_select import region_percentile

    helpers = min(torch.get_num_threads(), len(vals)) - 1
    if helpers <= 0:
        return region_percentile(vals, ids, n_regions, 95, fold_half)
    out = np.empty((len(vals), n_regions, vals.shape[1]), np.float32)
    taken = itertools.count()  # next() on a count is atomic under the GIL

    def take_images() -> None:
        while (b := next(taken)) < len(vals):
            out[b] = region_percentile(vals[b : b + 1], ids[b : b + 1], n_regions, 95,
                                       fold_half)[0]  # fmt: skip

    pending = [_helper_pool(helpers).submit(take_images) for _ in range(helpers)]
    take_images()
    for job in pending:  # a helper that has not started by now finds nothing left
        if not job.cancel():
            job.result()
    return out


@functools.cache
def _helper_pool(threads: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` threads kept for the process (no thread start-up per batch)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="alseg-p95")


os.register_at_fork(after_in_child=_helper_pool.cache_clear)  # a forked child has no threads


def _p95_by_sorting(vals: torch.Tensor, ids: torch.Tensor, n_regions: int,
                    fold_half: bool = False) -> torch.Tensor:  # fmt: skip
    """``region_p95`` of vals (B, K, P) with ids (B, P) in [0, n_regions] (n_regions: no region)
    by ``_sorted_rank_values`` over the segments (b K + k)(n_regions + 1) + id."""
    if fold_half:
        vals = torch.minimum(vals, 1.0 - vals)
    b, k, _ = vals.shape
    cols = n_regions + 1
    seg = ids.unsqueeze(1) + torch.arange(b * k, device=vals.device).view(b, k, 1) * cols
    counts = torch.bincount(seg.view(-1), minlength=b * k * cols)
    target = torch.where(counts > 0, (95 * counts + 99) // 100 - 1, -1)
    out = _sorted_rank_values(vals.reshape(-1), seg.view(-1), counts, target)
    return out.view(b, k, cols)[..., :n_regions].permute(0, 2, 1).contiguous()
