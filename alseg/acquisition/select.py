"""Ranking and budgeted selection of regions (ALGORITHMS.md §3.1, §2.2 "Cost"). numpy only.

Regions are indexed by a flat candidate index 0 .. N-1 (the caller keeps the mapping to
(image, region id)). Scores follow the library convention LARGER = MORE INFORMATIVE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    return idx[_best_first(s[idx])].astype(np.int64, copy=False)


def _best_first(scores: np.ndarray) -> np.ndarray:
    """Positions of ``scores`` by descending score; a stable sort of the negated scores keeps
    equal scores in ascending position order."""
    return np.argsort(-scores, kind="stable")


def _budget_prefix(costs: np.ndarray, budget: int, overshoot: bool) -> int:
    """How many entries of a best-first walk with these costs (M,) >= 0 are taken: the longest
    prefix with cumulative cost S_k <= budget (S_k never decreases, so a binary search), and
    with ``overshoot`` the one entry after it (if any)."""
    n_take = int(np.searchsorted(np.cumsum(costs, dtype=np.int64), budget, side="right"))
    return min(n_take + 1, costs.size) if overshoot else n_take


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
        order = top[_best_first(s[top])]
        n_take = _budget_prefix(c[order], budget, overshoot)
        if n_take < order.size or order.size == values.size:
            return order[:n_take].astype(np.int64, copy=False)
        k = min(values.size, 4 * k)


# One batch of a pool read in row order: (flat index of its first entry, scores (B,) float,
# costs (B,) int clicks, eligible (B,) bool).
ScoreBatch = tuple[int, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class StreamedSelection:
    """``select_streaming``'s result: picked (M,) int64 flat indices in selection order, their
    scores (M,) and costs (M,) (the batches' dtypes), and the number of eligible entries."""

    picked: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    eligible: int


def select_streaming(
    batches: Callable[[], Iterable[ScoreBatch]],
    budget: int,
    overshoot: bool = False,
    k: int | None = None,
) -> StreamedSelection:
    """``select_under_budget`` over a pool read in batches, holding the k best eligible entries
    instead of the pool: the same indices in the same order (descending score, ties by ascending
    index, NaN and ineligible entries never; the same prefix and overshoot rule).

    ``batches()`` reads the pool from its start at every call and yields ``ScoreBatch``es in
    ascending, non-overlapping index order. The k best by (score, index) are the first k of
    ``rank_order``, so the walk over them is the pool's while it stops inside them; else k grows
    4x and the pool is read again (k starts at max(1024, 2 x budget), as ``_walk_best_first``:
    one pass when regions cost >= 1 click). Memory: O(k + batch).
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}; pass a number of clicks")
    k = max(1024, 2 * int(budget)) if k is None else int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}; pass the number of candidates to keep")
    if budget == 0:  # nothing to pick (as select_under_budget); the pass counts the eligible
        index, scores, costs, eligible = _best_k(batches(), 0)
        return StreamedSelection(index, scores, costs, eligible)
    while True:
        index, scores, costs, eligible = _best_k(batches(), k)
        order = _best_first(scores)  # index ascending: ties stay in index order
        n_take = _budget_prefix(costs[order], budget, overshoot)
        if n_take < order.size or order.size == eligible:
            take = order[:n_take]
            return StreamedSelection(index[take], scores[take], costs[take], eligible)
        k *= 4


def _best_k(
    batches: Iterable[ScoreBatch], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The k best eligible entries by (descending score, ascending index) -> (index int64,
    score, cost), index ascending, and the number of eligible entries. Candidates fill buffers
    of 2k + a batch and are cut back to the k best when they pass 2k; an entry scoring <= the
    k-th best of a cut never enters (its index is larger than those of the k kept)."""
    best = _Candidates(k)
    eligible, end = 0, 0
    for start, s, c, e in batches:
        s, c, e = _as_float(one_d("scores", np.asarray(s))), np.asarray(c), np.asarray(e)
        if start < end or c.shape != s.shape or e.shape != s.shape or e.dtype != np.bool_:
            raise ValueError(
                f"batch at {start} (previous ended at {end}): scores {s.shape}, costs {c.shape}, "
                f"eligible {e.dtype} {e.shape}; pass batches in index order with one cost and "
                "one bool per score"
            )
        if c.size and not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"costs must be integers (clicks), got dtype {c.dtype}")
        if c.size and c.min() < 0:
            raise ValueError(f"costs must be >= 0, got min {int(c.min())}")
        end = start + s.size
        keep = e & ~np.isnan(s)
        eligible += int(np.count_nonzero(keep))
        if k:
            best.add(start, s, c, keep)
    return (*best.result(), eligible)


class _Candidates:
    """``_best_k``'s buffers: index int64, score and cost (the batches' dtypes promoted), the
    first n used, and the k-th best score of the last cut (None before one)."""

    def __init__(self, k: int) -> None:
        self.k, self.n, self.threshold = k, 0, None
        self.index = self.score = self.cost = None

    def add(self, start: int, s: np.ndarray, c: np.ndarray, keep: np.ndarray) -> None:
        if self.threshold is not None:
            keep &= s > self.threshold
        new = np.flatnonzero(keep)
        if self.index is None:
            self._grow(new.size, s.dtype, c.dtype)
        score_dtype = np.result_type(self.score.dtype, s.dtype)  # never cast a score down
        cost_dtype = np.result_type(self.cost.dtype, c.dtype)
        if not np.issubdtype(cost_dtype, np.integer):  # int64 with uint64
            cost_dtype = np.dtype(np.int64)
        full = self.n + new.size > self.index.size
        if full or score_dtype != self.score.dtype or cost_dtype != self.cost.dtype:
            self._grow(self.n + new.size, score_dtype, cost_dtype)
        n, m = self.n, self.n + new.size
        self.index[n:m] = new + start
        self.score[n:m] = s[new]
        self.cost[n:m] = c[new]
        self.n = m
        if m > 2 * self.k:
            self._cut()

    def _grow(self, need: int, score_dtype: np.dtype, cost_dtype: np.dtype) -> None:
        size = max(need, 2 * self.k + 65536)
        old = (self.index, self.score, self.cost)
        self.index = np.empty(size, np.int64)
        self.score = np.empty(size, score_dtype)
        self.cost = np.empty(size, cost_dtype)
        if old[0] is not None:
            for new, was in zip((self.index, self.score, self.cost), old, strict=True):
                new[: self.n] = was[: self.n]

    def _cut(self) -> None:
        """Keep the k best (ties at the k-th score: the lowest indices), in index order."""
        score = self.score[: self.n]
        kth = np.partition(score, self.n - self.k)[self.n - self.k]
        keep = score > kth
        tied = np.flatnonzero(score == kth)[: self.k - int(np.count_nonzero(keep))]
        keep[tied] = True
        for array in (self.index, self.score, self.cost):
            array[: self.k] = array[: self.n][keep]
        self.n, self.threshold = self.k, kth

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.index is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
        if self.n > self.k:
            self._cut()
        return self.index[: self.n], self.score[: self.n], self.cost[: self.n]
