"""Pixel -> region aggregation (ALGORITHMS.md §3.2 "Region aggregation"). Vectorized torch.

Regions are per image: ``regions (B, H, W)`` int ids in ``0 .. n_regions - 1``, ``-1`` = no
region (such pixels are ignored). Region r of image b maps to the flat segment
``b * n_regions + r``; every function works on the flat segments in one pass, with no loop over
regions or images. A region with no pixels gets NaN (or a zero histogram).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

AGGREGATIONS: tuple[str, ...] = ("mean", "max", "p95")
_FIRST_BITS, _SECOND_BITS = (5, 9), 7  # p95 radix select: key bits read by the first two
# levels; the first: log2 of the values per segment less 2, within these bounds
_SECOND_BITS_MIN = 4  # fewer key bits left after level 1: the kept values refine them
_LATER_BITS, _MAX_BITS = 4, 10  # later levels: between these, by the values left
_SORTED_ENOUGH = 1  # p95: sort once at most this many values per segment are left


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
    else:  # p95: 1-based rank ceil(0.95 n) in exact integer arithmetic, (95 n + 99) // 100
        out = segment_rank_values(vals, seg, counts, (95 * counts + 99) // 100)
    return out.view(pixel_scores.shape[0], n_regions).to(torch.float32)


def segment_rank_values(
    vals: torch.Tensor, seg: torch.Tensor, counts: torch.Tensor, rank: torch.Tensor
) -> torch.Tensor:
    """Value at 1-based ``rank`` (S,) of each segment's values sorted ascending -> (S,), NaN for
    a segment without values. vals (P,) float, seg (P,) segment ids in [0, S), counts (S,) =
    bincount(seg); 1 <= rank <= counts where counts > 0.

    Exact, without sorting every value (a radix select): the values' order-preserving integer
    keys (``_radix_keys``) are read a few bits at a time from the highest bit in which the
    values differ; per level one bincount over (segment, digit) finds the digit that holds each
    segment's rank-th value and only those values are kept (``_first_levels``: two levels over
    every value before any is dropped, then ``_radix_level`` on the few kept); the few left
    are sorted (``_sorted_rank_values``).
    """
    target = torch.where(counts > 0, rank - 1, -1)  # 0-based; -1 keeps nothing
    span = _key_span(vals)
    if span is None:  # NaN among the values: sort them all
        return _sorted_rank_values(vals, seg, counts, target)
    seg = seg.to(_radix_keys(vals[:1], span[1]).dtype)
    level = _first_levels(vals, seg, counts.numel(), target, span[0], span[1])
    return _refined_rank_values(*level, counts.numel(), span[1])


def _radix_keys(vals: torch.Tensor, non_negative: bool) -> torch.Tensor:
    """Integer keys (int32 for float32) in the order of float ``vals``. Values all >= 0: their
    bits (bit 31, set only by -0.0, is never read: -0 reads as +0). Otherwise the bits with the
    sign bit flipped for values >= 0 and every bit flipped for values < 0 (unsigned order)."""
    bits = vals.view(torch.int32 if vals.element_size() == 4 else torch.int64)
    if non_negative:
        return bits
    return bits ^ ((bits >> (8 * vals.element_size() - 1)) | torch.iinfo(bits.dtype).min)


def _key_span(vals: torch.Tensor, bounds: tuple | None = None) -> tuple[int, bool] | None:
    """(number of low key bits in which the values may differ, all values >= 0); None when a
    value is NaN. ``bounds``: (lo, hi) 0-d tensors with lo = min(vals) and hi >= max(vals)
    (NaN if a value is NaN), known to the caller: no pass over the values."""
    if not vals.numel():
        return 0, True
    # amin and amax: aminmax copies a strided tensor first, and is slower even when it is not
    lo, hi = (vals.amin(), vals.amax()) if bounds is None else bounds
    if bool(torch.isnan(lo) | torch.isnan(hi)):
        return None
    non_negative = bool(lo >= 0)
    mask = (1 << 8 * vals.element_size() - (1 if non_negative else 0)) - 1
    lo_key, hi_key = (int(_radix_keys(v.reshape(1).to(vals.dtype), non_negative)) & mask
                      for v in (lo, hi))  # fmt: skip
    return (lo_key ^ hi_key).bit_length(), non_negative


def _first_levels(vals: torch.Tensor, seg: torch.Tensor, n_seg: int, target: torch.Tensor,
                  shift: int, non_negative: bool,
                  scratch: dict | None = None) -> tuple:  # fmt: skip
    """The first two radix levels (``_FIRST_BITS``, then up to ``_SECOND_BITS`` key bits) over
    every value, then only the values in both chosen digits are kept: -> as ``_radix_level``
    (vals and seg of one shape, vals may be strided; values and segments kept flat). When
    level 1's digits hold under 1 value in 16, those are kept without level 2.
    Level 2 needs no compaction: a table over level 1's (segment, digit) cells maps each
    segment's chosen cell to the segment's row of level 2 and every other cell to a spare row.
    ``scratch`` (a dict, empty at first) keeps per-pixel buffers and seg << bits between calls
    on the same segments."""
    first = (vals.numel() // max(n_seg, 1)).bit_length() - 2
    first = min(max(first, _FIRST_BITS[0]), _FIRST_BITS[1])  # a table of P / 4 .. P / 2 cells
    if shift <= first:  # one level reads every bit
        return _radix_level(vals.reshape(-1), seg.reshape(-1), n_seg, target, shift, shift,
                            non_negative)  # fmt: skip
    keys = _radix_keys(vals, non_negative)
    shift -= first
    if scratch is None:  # one call: seg << first is made in the add
        scratch = {"cells": None, "cells2": None, "digits": None}
        cells = torch.bitwise_right_shift(keys, shift).bitwise_and_((1 << first) - 1)
        cells.add_(seg, alpha=1 << first)
    else:  # calls on the same segments: seg << first and the buffers are kept
        if "seg_cells" not in scratch:
            scratch.update(seg_cells=seg << first, cells=torch.empty_like(seg),
                           cells2=torch.empty_like(seg), digits=torch.empty_like(seg))  # fmt: skip
        cells = torch.bitwise_right_shift(keys, shift, out=scratch["cells"])
        cells.bitwise_and_((1 << first) - 1).add_(scratch["seg_cells"])
    chosen, counts, target = _target_digits(cells.view(-1), n_seg, 1 << first, target)
    rows = torch.arange(n_seg, device=vals.device)
    if shift <= _SECOND_BITS_MIN or int(counts.sum()) * 16 <= cells.numel():  # no level 2
        hit = torch.zeros(n_seg << first, dtype=torch.bool, device=vals.device)
        hit[(rows << first) + chosen] = True
        keep = _flat_nonzero(hit.index_select(0, cells.view(-1)), counts)
        return torch.take(vals, keep), torch.take(seg, keep), counts, target, shift
    bits = min(_SECOND_BITS, shift)
    shift -= bits
    to_row = torch.full((n_seg << first,), n_seg << bits, dtype=seg.dtype, device=vals.device)
    to_row[(rows << first) + chosen] = (rows << bits).to(seg.dtype)
    out = None if scratch["cells2"] is None else scratch["cells2"].view(-1)
    cells2 = torch.index_select(to_row, 0, cells.view(-1), out=out).view(cells.shape)
    digits = torch.bitwise_right_shift(keys, shift, out=scratch["digits"])
    cells2.add_(digits.bitwise_and_((1 << bits) - 1))
    cells2 = cells2.view(-1)
    chosen, counts, target = _target_digits(cells2, n_seg, 1 << bits, target, spare=True)
    hit = torch.zeros((n_seg + 1) << bits, dtype=torch.bool, device=vals.device)
    hit[(rows << bits) + chosen] = True
    keep = _flat_nonzero(hit.index_select(0, cells2), counts)
    return torch.take(vals, keep), torch.take(seg, keep), counts, target, shift


def _target_digits(cells: torch.Tensor, n_seg: int, digits: int, target: torch.Tensor,
                   spare: bool = False) -> tuple:  # fmt: skip
    """Per segment, the digit of cells = segment * digits + digit (a spare row n_seg when
    ``spare``, not counted) that holds its 0-based ``target`` -> (chosen digit (S,), values in
    it (S,), target within them (S,))."""
    below = torch.bincount(cells, minlength=(n_seg + spare) * digits)[: n_seg * digits]
    below = below.view(n_seg, digits).cumsum_(1)
    chosen = torch.searchsorted(below, target.unsqueeze(1), right=True)  # (S, 1)
    earlier = torch.where(chosen > 0, below.gather(1, (chosen - 1).clamp_min(0)), 0)
    counts = below.gather(1, chosen.clamp_max(digits - 1)) - earlier
    return chosen.squeeze(1), counts.squeeze(1), target - earlier.squeeze(1)


def _radix_level(vals: torch.Tensor, seg: torch.Tensor, n_seg: int, target: torch.Tensor,
                 shift: int, bits: int, non_negative: bool) -> tuple:  # fmt: skip
    """Keep each segment's values whose digit (key bits shift - bits .. shift - 1 of
    ``_radix_keys``) is the one that holds its 0-based ``target``; all kept values already share
    the key bits above. vals and seg (int32 for float32 vals): same shape, contiguous ->
    (values, segments) flat, counts (S,), target within the kept values (S,), the next shift."""
    bits = min(bits, shift)
    shift -= bits
    digits = 1 << bits
    keys = _radix_keys(vals, non_negative)
    cells = (keys >> shift).bitwise_and_(digits - 1).add_(seg, alpha=digits).view(-1)
    chosen, counts, target = _target_digits(cells, n_seg, digits, target)
    hit = torch.zeros(n_seg * digits, dtype=torch.bool, device=vals.device)
    hit[torch.arange(n_seg, device=vals.device) * digits + chosen] = True
    keep = _flat_nonzero(hit.index_select(0, cells), counts)
    return torch.take(vals, keep), torch.take(seg, keep), counts, target, shift


def _flat_nonzero(mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Indices of the True entries of a flat bool ``mask``, ascending (as torch.nonzero), of
    which there are counts.sum(). On CPU a sparse mask (under 1 in 16) is read 8 entries at a
    time as int64 words first: nonzero of the words, then of the entries of the few words
    that hold a True."""
    whole = mask.numel() // 8 * 8
    if (mask.device.type != "cpu" or whole < 64 or mask.storage_offset() % 8
            or int(counts.sum()) * 16 > whole):  # fmt: skip
        return torch.nonzero(mask).squeeze(1)
    words = torch.nonzero(mask[:whole].view(torch.int64)).squeeze(1)
    entries = (words.unsqueeze(1) * 8 + torch.arange(8, device=mask.device)).view(-1)
    found = entries.take(torch.nonzero(mask.take(entries)).squeeze(1))
    if whole == mask.numel():
        return found
    return torch.cat((found, torch.nonzero(mask[whole:]).squeeze(1) + whole))


def _refined_rank_values(vals: torch.Tensor, seg: torch.Tensor, counts: torch.Tensor,
                         target: torch.Tensor, shift: int, n_seg: int,
                         non_negative: bool) -> torch.Tensor:  # fmt: skip
    """Finish ``segment_rank_values`` after ``_first_levels``: more levels while many values
    and key bits are left (each reads about log2 of the values left per segment: the bincount
    table stays within twice the values' size); then, once every key bit is read, a segment's
    values left are equal and any of them is its value, else what is left is sorted."""
    while shift and vals.numel() > _SORTED_ENOUGH * n_seg:
        bits = min(_MAX_BITS, max(_LATER_BITS, (vals.numel() // n_seg).bit_length()))
        vals, seg, counts, target, shift = _radix_level(vals, seg, n_seg, target, shift, bits,
                                                        non_negative)  # fmt: skip
    if not shift and (not non_negative or not bool((vals.view(seg.dtype) < 0).any())):
        # every key bit read: a segment's values left are all the same (no -0 beside +0)
        out = torch.full(counts.shape, float("nan"), dtype=vals.dtype, device=vals.device)
        return out.index_put_((seg.long(),), vals)
    return _sorted_rank_values(vals, seg, counts, target)


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
    row of the (B, K, H W) layout (the model's contiguous output; no transposed copy); ``p95``:
    the nearest-rank 95th percentile of ``aggregate_regions`` for every channel, all (image,
    channel, region) segments in one ``segment_rank_values``. Pixels outside every region (-1)
    go to a spare column n_regions, dropped at the end; NaN rows for empty regions.
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
    b, k, h, w = values.shape
    ids = region_row_ids(regions, (b, h, w), n_regions, values.device).unsqueeze(1)
    index = ids.expand(b, k, h * w)
    vals = values.contiguous().reshape(b, k, h * w).to(_acc_dtype(values))
    shape = (b, k, n_regions + 1)
    if how == "p95":
        return _region_vectors_p95(vals, ids, n_regions)
    counts = torch.zeros(b, 1, n_regions + 1, dtype=vals.dtype, device=vals.device)
    counts.scatter_add_(2, ids, torch.ones_like(ids, dtype=vals.dtype))
    if how == "mean":
        sums = torch.zeros(shape, dtype=vals.dtype, device=vals.device).scatter_add_(2, index, vals)
        out = torch.where(counts > 0, sums / counts.clamp_min(1), float("nan"))
    else:  # from -inf, as in aggregate_regions
        out = torch.full(shape, float("-inf"), dtype=vals.dtype, device=vals.device)
        out = torch.where(counts > 0, out.scatter_reduce_(2, index, vals, "amax"), float("nan"))
    return out[..., :n_regions].permute(0, 2, 1).to(torch.float32).contiguous()


def _region_vectors_p95(vals: torch.Tensor, ids: torch.Tensor, n_regions: int) -> torch.Tensor:
    """p95 of every (image, channel, region) of vals (B, K, P) with region ids (B, 1, P) in
    [0, n_regions] -> (B, n_regions, K) float32: ``region_planes_p95`` when no value is
    negative, else one ``segment_rank_values`` over segments (b K + k)(n_regions + 1) + id."""
    b, k, _ = vals.shape
    ids = torch.where(ids == n_regions, -1, ids).squeeze(1).view(b, -1)
    if vals.numel() and float(vals.amin()) >= 0:  # (NaN -> the general path)
        return region_planes_p95(lambda c: vals[:, c], k, ids, n_regions)
    cols = n_regions + 1
    seg = (
        torch.where(ids < 0, n_regions, ids).unsqueeze(1)
        + torch.arange(b * k, device=vals.device).view(b, k, 1) * cols
    )
    counts = torch.bincount(seg.view(-1), minlength=b * k * cols)
    out = segment_rank_values(vals.reshape(-1), seg.view(-1), counts, (95 * counts + 99) // 100)
    return out.view(b, k, cols)[..., :n_regions].permute(0, 2, 1).float().contiguous()


def region_planes_p95(
    plane: Callable[[int], torch.Tensor], k: int, regions: torch.Tensor, n_regions: int
) -> torch.Tensor:
    """Nearest-rank p95 (as ``aggregate_regions``) per region of k planes of values >= 0:
    plane(c) -> (B, ...) float with H W values per image (any strides), made when needed (so a
    plane derived from the input stays in cache), or (values, (lo, hi)) with 0-d tensors
    lo = min(values), hi >= max(values) (NaN if a value is NaN); regions (B, H, W), -1 = no
    region -> (B, n_regions, k) float32. The first two radix levels (``_first_levels``) run
    plane by plane on shared (image, region) segments, the rest on the kept values of all
    planes together."""
    first = _plane_and_bounds(plane(0))
    b, device = first[0].shape[0], first[0].device
    ids = region_row_ids(regions, (b, *regions.shape[1:]), n_regions, device)
    cols = n_regions + 1
    n_seg = b * cols
    seg = ids + torch.arange(b, device=device).view(b, 1) * cols  # (B, H W)
    counts = torch.bincount(seg.view(-1), minlength=n_seg)
    target = torch.where(counts > 0, (95 * counts + 99) // 100 - 1, -1)
    seg32, scratch = seg.int(), {}  # scratch: buffers shared by the planes
    out = torch.full((k, n_seg), float("nan"), device=device)
    kept, shift = [], 0
    for c in range(k):
        values, bounds = first if c == 0 else _plane_and_bounds(plane(c))
        values = values.float().reshape(b, -1)  # a view where the layout allows it
        span = _key_span(values, bounds)
        if span is None:  # NaN among the values: sort this plane
            out[c] = _sorted_rank_values(values.reshape(-1), seg.view(-1), counts, target)
            continue
        if not span[1]:
            raise ValueError(f"plane {c} has values < 0; region_planes_p95 reads values >= 0")
        *level, next_shift = _first_levels(values, seg32, n_seg, target, span[0], True, scratch)
        level[1] = level[1] + c * n_seg
        kept.append((c, level))
        shift = max(shift, next_shift)  # a plane's values share the bits above its own shift
    if kept:
        rows = torch.tensor([c for c, _ in kept], device=device)
        parts = [torch.cat(x) for x in zip(*(level for _, level in kept), strict=True)]
        counts = torch.zeros(k, n_seg, dtype=torch.long, device=device)
        target = torch.full_like(counts, -1)  # planes not kept: no values in the refinement
        counts.index_copy_(0, rows, parts[2].view(-1, n_seg))
        target.index_copy_(0, rows, parts[3].view(-1, n_seg))
        refined = _refined_rank_values(parts[0], parts[1], counts.view(-1), target.view(-1),
                                       shift, k * n_seg, True)  # fmt: skip
        out[rows] = refined.view(k, n_seg)[rows].to(out.dtype)
    return out.view(k, b, cols)[..., :n_regions].permute(1, 2, 0).contiguous()


def _plane_and_bounds(made: torch.Tensor | tuple) -> tuple:
    """A plane as ``region_planes_p95`` is given it -> (values, bounds or None)."""
    return made if isinstance(made, tuple) else (made, None)
