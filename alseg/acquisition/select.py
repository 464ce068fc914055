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
    return idx[np.argsort(-s[idx], kind="stable")].astype(np.int64)


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
    order = _ranked(_as_float(s), e)
    if budget == 0 or order.size == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(c[order].astype(np.int64))
    # costs >= 0 so cum is non-decreasing: count of S_k <= budget is the longest valid prefix.
    n_take = int(np.searchsorted(cum, budget, side="right"))
    if overshoot:
        n_take = min(n_take + 1, order.size)
    return order[:n_take]
