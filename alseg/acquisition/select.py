"""Ranking and budgeted selection of regions (ALGORITHMS.md §3.1, §2.2 "Cost"). numpy only.

Regions are indexed by a flat candidate index 0 .. N-1 (the caller keeps the mapping to
(image, region id)). Scores follow the library convention LARGER = MORE INFORMATIVE.
"""

from __future__ import annotations

import numpy as np

from alseg.checks import one_d


def random_scores(n: int, seed: int) -> np.ndarray:
    """Uniform [0, 1) scores for the Random baseline: ``default_rng(seed).random(n)``, float32 (n,).

    Same ``seed`` and ``n`` give the same values.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}; pass the number of candidate regions")
    return np.random.default_rng(seed).random(n, dtype=np.float32)


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices of ``scores`` (N,) by descending score, ties by ascending index; NaN excluded.

    Returns int64 (M,) with M = number of non-NaN scores. Deterministic (stable sort).
    """
    return _ranked(one_d("scores", _as_float(scores)), None)


def _as_float(scores: np.ndarray) -> np.ndarray:
    """Floating scores as they are (float32 stays float32: negation and order are exact);
    other dtypes as float64."""
    s = np.asarray(scores)
    return s if np.issubdtype(s.dtype, np.floating) else s.astype(np.float64)


def _ranked(s: np.ndarray, eligible: np.ndarray | None) -> np.ndarray:
    """``rank_order`` of the eligible entries only (the same order as filtering it afterwards,
    as the sort is stable), without ranking the rest of the pool."""
    keep = ~np.isnan(s) if eligible is None else ~np.isnan(s) & eligible
    idx = np.flatnonzero(keep)
    # Stable sort of the negated scores keeps equal scores in ascending index order.
    return idx[np.argsort(-s[idx], kind="stable")].astype(np.int64, copy=False)


def select_under_budget(
    scores: np.ndarray,
    costs: np.ndarray,
    budget: int,
    eligible: np.ndarray | None = None,
    overshoot: bool = False,
) -> np.ndarray:
    """Pick regions in ``rank_order(scores)`` until the click ``budget`` is spent.

    scores (N,) float (NaN = never selected), costs (N,) non-negative int clicks per region,
    eligible (N,) bool or None (= all). Walking the eligible regions best-first with cumulative
    cost S_k after k regions:

    - ``overshoot=False``: keep the longest prefix with S_k <= budget.
    - ``overshoot=True`` (MulActSeg ``expand_training_set``): additionally keep the one region
      that makes S_k exceed the budget, then stop; the budget is overshot by at most one region.

    ``budget == 0`` selects nothing in both modes (MulActSeg's loop would still take one region).
    Returns int64 indices into the inputs, in selection order.
    """
    s = np.asarray(scores)
    c = np.asarray(costs)
    one_d("scores", s)
    one_d("costs", c)
    if c.shape != s.shape:
        raise ValueError(
            f"costs must have the same shape as scores {s.shape}, got {c.shape}; "
            "give one cost per candidate region"
        )
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise ValueError(
            f"costs must be integers (clicks), got dtype {c.dtype}; cast with .astype(np.int64)"
        )
    if c.size and c.min() < 0:
        raise ValueError(
            f"costs must be >= 0, got min {int(c.min())}; a region costs 0 or more clicks"
        )
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}; pass a number of clicks")
    e = None if eligible is None else np.asarray(eligible)
    if e is not None and (e.shape != s.shape or e.dtype != np.bool_):
        raise ValueError(
            f"eligible must be a bool array of shape {s.shape}, got {e.dtype} {e.shape}; "
            "pass a boolean mask with one entry per candidate region (or None)"
        )
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    return _walk_best_first(_as_float(s), c, int(budget), e, overshoot)


def _walk_best_first(s: np.ndarray, c: np.ndarray, budget: int, eligible: np.ndarray | None,
                     overshoot: bool) -> np.ndarray:  # fmt: skip
    """``select_under_budget``'s walk over ``_ranked(s, eligible)`` without sorting the pool:
    the T entries scoring >= the k-th best score t are the first T of that order (every other
    score is < t), so sorting them suffices when the walk stops inside them; else k grows 4x
    (k starts at 2 x budget: enough when regions cost >= 1 click). Memory: a few bytes per
    pool entry, not a sorted copy of the pool."""
    keep = ~np.isnan(s) if eligible is None else ~np.isnan(s) & eligible
    values = s[keep]
    k = min(values.size, max(1024, 2 * budget))
    while True:
        if k < values.size:
            values.partition(values.size - k)  # in place: values is this function's copy
            threshold = values[values.size - k]
            top = np.flatnonzero(keep & (s >= threshold))
        else:
            top = np.flatnonzero(keep)
        # stable sort of the negated scores keeps equal scores in ascending index order
        order = top[np.argsort(-s[top], kind="stable")]
        # costs >= 0 so the sums never decrease: count of S_k <= budget = longest valid prefix
        n_take = int(np.searchsorted(np.cumsum(c[order], dtype=np.int64), budget, side="right"))
        if overshoot:
            n_take = min(n_take + 1, order.size)
        if n_take < order.size or order.size == values.size:
            return order[:n_take].astype(np.int64, copy=False)
        k = min(values.size, 4 * k)
