"""select_streaming (the pool read in batches, the k best held) picks exactly what
select_under_budget picks on the whole pool: the same indices in the same order."""

import numpy as np
import pytest

from alseg.acquisition.select import select_streaming, select_under_budget


def batches_of(scores, costs, eligible, size):
    def read():
        for start in range(0, len(scores), size):
            stop = start + size
            yield start, scores[start:stop], costs[start:stop], eligible[start:stop]

    return read


def random_pool(rng, n, levels, nan_fraction, labelled_fraction, max_cost):
    """Scores drawn from ``levels`` distinct values (ties), some NaN, some labelled."""
    scores = rng.integers(0, levels, n).astype(np.float32) / levels
    scores[rng.random(n) < nan_fraction] = np.nan
    costs = rng.integers(0, max_cost + 1, n).astype(np.int32)
    labelled = rng.random(n) < labelled_fraction
    return scores, costs, ~labelled & ~np.isnan(scores)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("overshoot", [False, True])
def test_streaming_equals_in_memory_on_random_pools(seed: int, overshoot: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    mode = seed % 4  # every cost 0, every cost 1, 0 or 1, 0 to 5
    scores, costs, eligible = random_pool(rng, n, levels=int(rng.integers(1, 50)),
                                          nan_fraction=0.1, labelled_fraction=0.2,
                                          max_cost=[0, 1, 1, 5][mode])  # fmt: skip
    if mode == 1:
        costs[:] = 1
    budget = int(rng.integers(0, max(1, n)))
    expected = select_under_budget(scores, costs, budget, eligible, overshoot)
    for k, batch in [(1, 7), (3, 64), (50, 1000), (None, 256)]:  # tiny k: grows 4x, passes again
        got = select_streaming(batches_of(scores, costs, eligible, batch), budget, overshoot, k)
        assert got.picked.dtype == np.int64
        np.testing.assert_array_equal(got.picked, expected)
        np.testing.assert_array_equal(got.scores, scores[expected])
        np.testing.assert_array_equal(got.costs, costs[expected])
        assert got.eligible == int(np.count_nonzero(eligible))


def test_ties_keep_index_order_across_batches_and_cuts() -> None:
    scores = np.zeros(100, np.float32)  # all tied: index order
    scores[[5, 50, 95]] = 1.0
    costs = np.ones(100, np.int32)
    eligible = np.ones(100, bool)
    eligible[50] = False
    got = select_streaming(batches_of(scores, costs, eligible, 9), 6, k=2)
    assert got.picked.tolist() == [5, 95, 0, 1, 2, 3]
    assert got.picked.tolist() == select_under_budget(scores, costs, 6, eligible).tolist()


def test_growth_reads_the_pool_again_only_when_the_walk_runs_off() -> None:
    passes = []
    scores = np.arange(1000, dtype=np.float32)
    costs = np.zeros(1000, np.int32)  # free regions: the walk takes every eligible one
    eligible = np.ones(1000, bool)
    read = batches_of(scores, costs, eligible, 100)

    def counted():
        passes.append(1)
        return read()

    got = select_streaming(counted, 3, k=10)
    assert got.picked.tolist() == list(range(999, -1, -1))
    assert len(passes) == 5  # k = 10, 40, 160, 640 ran off; 2,560 >= the 1,000 entries
    passes.clear()
    costs[:] = 1
    assert select_streaming(counted, 3, k=10).picked.tolist() == [999, 998, 997]
    assert len(passes) == 1


def test_zero_budget_picks_nothing_but_counts_the_eligible() -> None:
    scores = np.array([0.5, np.nan, 0.1], np.float32)
    got = select_streaming(batches_of(scores, np.ones(3, np.int32), np.ones(3, bool), 2), 0, True)
    assert got.picked.tolist() == [] and got.eligible == 2


def test_bad_batches_are_errors() -> None:
    scores = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="costs must be >= 0"):
        select_streaming(batches_of(scores, -np.ones(4, np.int32), np.ones(4, bool), 2), 1)
    with pytest.raises(ValueError, match="integers"):
        select_streaming(batches_of(scores, np.ones(4), np.ones(4, bool), 2), 1)
    with pytest.raises(ValueError, match="budget must be >= 0"):
        select_streaming(batches_of(scores, np.ones(4, np.int32), np.ones(4, bool), 2), -1)

    def overlapping():
        yield 0, scores, np.ones(4, np.int32), np.ones(4, bool)
        yield 2, scores, np.ones(4, np.int32), np.ones(4, bool)

    with pytest.raises(ValueError, match="index order"):
        select_streaming(overlapping, 1)
