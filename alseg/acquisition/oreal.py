"""OREAL: one-vs-rest class entropy and ItemsPerClass balancing (ALGORITHMS.md §3.6, §2.2).

Torch scoring is batched and vectorized; selection is numpy over a flat candidate index
0 .. N-1 (``region_ovr_scores(...).reshape(-1, C)``; the caller keeps the mapping to
(image, region id)). Typical round:

1. ``S = region_ovr_scores(probs, regions, n_regions, how="max")`` per pool batch -> (N, C).
2. ``n = labelled_class_counts(labels_of_labelled_regions, C)``.
3. Dominant labelling: ``oreal_select(S, items_per_class(n, Q, background), eligible)``.
   Weak (multi-class) labelling: ``oreal_select_weak(S, eligible, clicks, budget, n, background)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from alseg import IGNORE
from alseg.acquisition.select import rank_order, select_under_budget
from alseg.checks import as_numpy

if TYPE_CHECKING:  # torch is imported by the scoring functions only: selection is numpy
    import torch

OVR_KINDS: tuple[str, ...] = ("ovr_entropy", "prob_x_entropy")

# ----------------------------------------------------------------------------- scores


def ovr_entropy(probs: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """One-vs-rest binary entropy per class: probs (B, C, H, W) -> (B, C, H, W) float32.

    H_c(x) = -[p_c log(p_c + eps) + (1 - p_c) log(1 - p_c + eps)], eps = 1e-7 (OREAL
    ``compute_entropy_v2``). H_c = ln 2 at p_c = 0.5 and ~0 at p_c in {0, 1}.
    """
    from alseg.acquisition.uncertainty import ensure_probs

    ensure_probs(probs)
    return binary_entropy(probs, eps)


def binary_entropy(p: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Elementwise -[p log(p + eps) + (1 - p) log(1 - p + eps)] of any shape -> float32."""
    import torch

    p = p.to(torch.promote_types(p.dtype, torch.float32))
    q = 1.0 - p
    return (p * torch.log(p + eps)).add_(q * torch.log(q + eps)).neg_().to(torch.float32)


def _region_max_ovr_entropy(probs: torch.Tensor, regions: torch.Tensor,
                            n_regions: int) -> torch.Tensor:  # fmt: skip
    """max_{x in r} H_c(x) without a log per pixel and class: H_c(p) is symmetric about
    p = 1/2 and increasing on [0, 1/2] (dH/dp = log((1-p+eps)/(p+eps)) + eps(1-2p)/(...) > 0),
    so the maximum is H_c at the pixel whose p_c is closest to 1/2:
    max_x H_c(x) = H_c(1/2 - min_x |p_c(x) - 1/2|)."""
    import torch

    from alseg.acquisition.aggregate import region_vectors

    closeness = (probs.to(torch.float32) - 0.5).abs_().neg_()  # (B, C, H, W): max at p = 1/2
    nearest = 0.5 + region_vectors(closeness, regions, n_regions, "max")  # (B, R, C), NaN kept
    return binary_entropy(nearest)


def _region_mean_ovr_entropy(probs: torch.Tensor, regions: torch.Tensor,
                             n_regions: int) -> torch.Tensor:  # fmt: skip
    """mean_{x in r} H_c(x) class plane by class plane: p log(p + eps) + q log(q + eps) of one
    plane (q = 1 - p) in three (B, H W) scratch tensors that stay in cache, its region sums
    added to a (B, C + 1, n_regions + 1) table (column C: pixel counts; column n_regions: the
    pixels of region -1); the sums are negated at the end (sum(-a) = -sum(a) exactly), so the
    values equal ``region_vectors(ovr_entropy(probs), regions, n_regions, "mean")``."""
    import torch

    from alseg.acquisition.aggregate import region_row_ids

    b, c, h, w = probs.shape
    ids = region_row_ids(regions, (b, h, w), n_regions, probs.device)
    planes = probs.to(torch.float32).reshape(b, c, h * w)
    sums = torch.zeros(b, c + 1, n_regions + 1, dtype=torch.float32, device=probs.device)
    pixel, rest, scratch = (torch.empty_like(planes[:, 0]) for _ in range(3))
    for k in range(c):
        p = planes[:, k]
        torch.add(p, 1e-7, out=pixel).log_().mul_(p)  # p log(p + eps)
        torch.neg(p, out=rest).add_(1.0)  # q = 1 - p
        pixel.add_(torch.add(rest, 1e-7, out=scratch).log_().mul_(rest))  # + q log(q + eps)
        sums[:, k].scatter_add_(1, ids, pixel)
    sums[:, c].scatter_add_(1, ids, torch.ones_like(pixel))
    counts = sums[:, c:, :n_regions]
    means = torch.where(counts > 0, sums[:, :c, :n_regions].neg() / counts.clamp_min(1), torch.nan)
    return means.transpose(1, 2).contiguous()


def region_ovr_scores(
    probs: torch.Tensor,
    regions: torch.Tensor,
    n_regions: int,
    how: str = "max",
    kind: str = "ovr_entropy",
) -> torch.Tensor:
    """Per-class region scores H_c(r): probs (B, C, H, W) -> (B, n_regions, C) float32.

    Pixel score per class (``kind``):
    - ``ovr_entropy``: H_c(x) of ``ovr_entropy`` (OREAL);
    - ``prob_x_entropy``: p_c(x) * H(x), H(x) = -sum_k p_k log p_k (ablation "Prob x Entropy").
    Aggregated per region with ``how`` in ``mean`` / ``max`` (OREAL default) / ``p95``, all C
    channels in one ``region_vectors`` call.
    regions (B, H, W) int, -1 = no region; regions without pixels are NaN rows.
    """
    import torch

    from alseg.acquisition.aggregate import AGGREGATIONS, region_p95, region_vectors
    from alseg.acquisition.uncertainty import ensure_probs, pixel_uncertainty

    if kind not in OVR_KINDS:
        raise ValueError(f"kind must be one of {OVR_KINDS}, got {kind!r}; pick one of those")
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}; pick one of those")
    ensure_probs(probs)
    b, c, h, w = probs.shape
    if not isinstance(regions, torch.Tensor) or tuple(regions.shape) != (b, h, w):
        shape = tuple(regions.shape) if isinstance(regions, torch.Tensor) else None
        raise ValueError(
            f"regions must be a ({b}, {h}, {w}) tensor (B, H, W), got {shape}; "
            "pass one region map per image at the resolution of probs"
        )
    regions = regions.to(probs.device)
    if kind == "ovr_entropy" and how == "max":
        return _region_max_ovr_entropy(probs, regions, n_regions)
    if kind == "ovr_entropy" and how == "p95":  # H_c(p) = H_c(min(p, 1 - p)), H_c rises on
        # [0, 1/2]: the percentile of H_c is H_c of the percentile of q = min(p, 1 - p)
        return binary_entropy(region_p95(probs, regions, n_regions, fold_half=True))
    if kind == "ovr_entropy":
        return _region_mean_ovr_entropy(probs, regions, n_regions)
    ent = pixel_uncertainty(probs, "entropy")  # (B, H, W)
    pix = probs.to(torch.float32) * ent.unsqueeze(1)
    return region_vectors(pix, regions, n_regions, how)  # all classes in one reduction


# ----------------------------------------------------------------------------- balancing


def _as_counts(name: str, counts: np.ndarray | Sequence[int] | torch.Tensor) -> np.ndarray:
    counts = as_numpy(counts)
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D (C,) array, got shape {arr.shape}; "
            "pass one count per class"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be integers, got dtype {arr.dtype}; cast with .astype(np.int64)"
        )
    if arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got min {int(arr.min())}; counts are non-negative")
    return arr.astype(np.int64)


def items_per_class(
    counts: np.ndarray | Sequence[int] | torch.Tensor, q: int, background: int | None = None
) -> np.ndarray:
    """OREAL Algorithm 1 ItemsPerClass(n, Q): counts (C,) int -> delta (C,) int64, sum = q.

    Definition: delta = 0; repeat q times: c* = argmin_c (n_c + delta_c) (ties -> lowest class
    index), delta_{c*} += 1. With ``background`` = b, n_b is set to 0 first (background
    oversampling). Computed by water-filling in O(C log q): the largest level T with
    K(T) = sum_c max(0, T - n_c) <= q fills every class up to T, and the remaining q - K(T)
    items go, one each, to the lowest-indexed classes with n_c <= T; this equals the loop.
    """
    n = _as_counts("counts", counts).copy()
    if q < 0:
        raise ValueError(f"q must be >= 0, got {q}; pass the number of items to distribute")
    if background is not None:
        if not 0 <= background < n.size:
            raise ValueError(
                f"background must be a class index in [0, {n.size}) or None, got {background}; "
                "pass the background class id (e.g. 0 on VOC) or None"
            )
        n[background] = 0
    delta = np.zeros_like(n)
    if q == 0:
        return delta
    lo, hi = int(n.min()), int(n.min()) + int(q)  # K(lo) = 0 <= q <= K(hi)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(np.maximum(mid - n, 0).sum()) <= q:
            lo = mid
        else:
            hi = mid - 1
    delta = np.maximum(lo - n, 0)
    rest = int(q) - int(delta.sum())  # < |{c : n_c <= T}| because K(T + 1) > q
    delta[np.flatnonzero(n <= lo)[:rest]] += 1
    return delta


def labelled_class_counts(
    label_classes: np.ndarray | torch.Tensor | Sequence[Sequence[int]],
    num_classes: int,
    ignore_index: int | None = IGNORE,
) -> np.ndarray:
    """n_c = number of labelled regions whose label contains class c -> (C,) int64.

    ``label_classes`` is one of:
    - a 2-D array/tensor (N, C) multi-hot (nonzero = class present; weak labels);
    - a 1-D integer array/tensor (N,) of dominant class ids (one class per region);
    - a Python sequence of N sequences of class ids (ragged; duplicates count once).
    A Python list of 0/1 rows is read as class-id lists: convert multi-hot to np.ndarray.
    Ids equal to ``ignore_index`` (void-dominant regions) are skipped; other ids outside
    [0, num_classes) raise.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}; pass C")
    label_classes = as_numpy(label_classes)
    if isinstance(label_classes, np.ndarray):
        if label_classes.ndim == 2:
            if label_classes.shape[1] != num_classes:
                raise ValueError(
                    f"multi-hot labels must have num_classes={num_classes} columns, got "
                    f"{label_classes.shape[1]}; slice off extra channels (e.g. undefined)"
                )
            return (label_classes != 0).sum(axis=0).astype(np.int64)
        if label_classes.ndim != 1 or not (
            label_classes.size == 0 or np.issubdtype(label_classes.dtype, np.integer)
        ):
            raise ValueError(
                f"label_classes array must be (N, C) multi-hot or (N,) int class ids, got "
                f"{label_classes.dtype} {label_classes.shape}; see the docstring"
            )
        ids = label_classes.astype(np.int64)
        region = np.arange(ids.size, dtype=np.int64)
    else:
        seqs = list(label_classes)
        try:
            lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        except TypeError as err:
            raise ValueError(
                "label_classes as a Python sequence must hold one sequence of class ids per "
                f"region, got an element without len() ({err}); wrap dominant ids as [c] or "
                "pass a 1-D np.ndarray"
            ) from err
        ids = np.fromiter(
            itertools.chain.from_iterable(seqs), dtype=np.int64, count=int(lens.sum())
        )
        region = np.repeat(np.arange(len(seqs), dtype=np.int64), lens)
    if ignore_index is not None:
        keep = ids != ignore_index
        ids, region = ids[keep], region[keep]
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(
            f"class ids must lie in [0, {num_classes}) or equal ignore_index={ignore_index}, "
            f"got [{int(ids.min())}, {int(ids.max())}]; pass num_classes = C"
        )
    pairs = np.unique(region * num_classes + ids)  # a class counts once per region
    return np.bincount(pairs % num_classes, minlength=num_classes).astype(np.int64)


# ----------------------------------------------------------------------------- selection


def _check_scores_eligible(
    region_class_scores: np.ndarray | torch.Tensor, eligible: np.ndarray | torch.Tensor | None
) -> tuple[np.ndarray, np.ndarray]:
    region_class_scores = as_numpy(region_class_scores)
    s = np.asarray(region_class_scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(
            f"region_class_scores must be (N, C), got shape {s.shape}; "
            "pass region_ovr_scores(...).reshape(-1, C)"
        )
    if eligible is None:
        return s, np.ones(s.shape[0], dtype=bool)
    eligible = as_numpy(eligible)
    e = np.asarray(eligible)
    if e.dtype != np.bool_ or e.shape != (s.shape[0],):
        raise ValueError(
            f"eligible must be a bool array of shape ({s.shape[0]},), got {e.dtype} {e.shape}; "
            "pass True for every unlabelled candidate region"
        )
    return s, e


def _per_class_picks(s: np.ndarray, delta: np.ndarray, eligible: np.ndarray) -> list[np.ndarray]:
    """For c = 0 .. C-1: top delta_c eligible regions by s[:, c] not picked by earlier classes."""
    taken = ~eligible
    picks = []
    for c in range(s.shape[1]):  # loop over classes only
        if delta[c] <= 0:
            picks.append(np.zeros(0, dtype=np.int64))
            continue
        order = rank_order(s[:, c])  # descending, ties -> lower index, NaN dropped
        chosen = order[~taken[order]][: int(delta[c])]
        taken[chosen] = True
        picks.append(chosen)
    return picks


def oreal_select(
    region_class_scores: np.ndarray | torch.Tensor,
    delta: np.ndarray | Sequence[int] | torch.Tensor,
    eligible: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """OREAL selection under dominant labelling -> int64 indices, at most sum(delta).

    region_class_scores (N, C) H_c(r) (NaN = never picked), delta (C,) int from
    ``items_per_class``, eligible (N,) bool (None = all). For each class c with delta_c > 0, in
    class order, take the delta_c regions with the largest H_c(r) (ties -> lower index) that are
    eligible and not picked by an earlier class. Each region costs 1 click. Returned in pick order
    (class 0's picks first); fewer if a class runs out of candidates.
    """
    s, e = _check_scores_eligible(region_class_scores, eligible)
    d = _as_counts("delta", delta)
    if d.size != s.shape[1]:
        raise ValueError(
            f"delta must have C={s.shape[1]} entries, got {d.size}; one count per class column"
        )
    picks = _per_class_picks(s, d, e.copy())
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, dtype=np.int64)


def oreal_select_weak(
    region_class_scores: np.ndarray | torch.Tensor,
    eligible: np.ndarray | torch.Tensor | None,
    costs: np.ndarray,
    budget: int,
    counts: np.ndarray | Sequence[int] | torch.Tensor,
    background: int | None = None,
) -> np.ndarray:
    """OREAL selection under weak (multi-class) labelling -> int64 indices in pick order.

    As OREAL ``class_entropy_patch_multiClass_query`` + ``count_multiClassLabeling_click``:
    1. delta = items_per_class(counts, budget, background) (Q = the click budget);
    2. per-class lists as in ``oreal_select`` (class order, top delta_c by H_c, a region picked
       by an earlier class is skipped);
    3. interleave round-robin: the 1st region of every class list (class order), then the 2nd...;
    4. walk that order adding ``costs`` (N,) int clicks (classes present) and stop once the
       cumulative cost EXCEEDS ``budget``; the crossing region is kept (§2.2), i.e.
       ``select_under_budget(..., overshoot=True)``. budget = 0 selects nothing.
    """
    s, e = _check_scores_eligible(region_class_scores, eligible)
    n = _as_counts("counts", counts)
    if n.size != s.shape[1]:
        raise ValueError(
            f"counts must have C={s.shape[1]} entries, got {n.size}; one count per class column"
        )
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}; pass a number of clicks")
    c = np.asarray(costs)
    if c.shape != (s.shape[0],):
        raise ValueError(
            f"costs must have shape ({s.shape[0]},), got {c.shape}; one click count per region"
        )
    picks = _per_class_picks(s, items_per_class(n, budget, background), e.copy())
    seq = np.concatenate(picks).astype(np.int64)
    pos = np.concatenate([np.arange(p.size) for p in picks])
    cls = np.concatenate([np.full(p.size, j) for j, p in enumerate(picks)])
    seq = seq[np.lexsort((cls, pos))]  # round-robin: by position in list, then class
    # Encode the interleaved order as descending scores and reuse the budget walk.
    order_scores = np.full(s.shape[0], np.nan)
    order_scores[seq] = -np.arange(seq.size, dtype=np.float64)
    return select_under_budget(order_scores, c, int(budget), overshoot=True)
