"""Unit tests for alseg.acquisition.balanced (PixBal, ClassBal, CBAL) on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alseg.acquisition.aggregate import aggregate_regions, region_means
from alseg.acquisition.balanced import (
    PriorAccumulator,
    cbal_region_scores,
    cbal_region_statistics,
    classbal_region_scores,
    pixbal_weights,
)


def _probs_1x3x1x2() -> torch.Tensor:
    """B=1, C=3, H=1, W=2: pixel 0 = [0.5, 0.3, 0.2], pixel 1 = [0.1, 0.3, 0.6]."""
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])  # (W, C)
    return p.T.reshape(1, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------- PixBal


def test_pixbal_weights_by_hand() -> None:
    # nu = 10: w = (1 + 10 * 0.3)^-2 = 1/16 = 0.0625 (x2), (1 + 10 * 0.4)^-2 = 1/25 = 0.04
    weights = pixbal_weights(torch.tensor([0.3, 0.3, 0.4]), nu=10.0)
    np.testing.assert_allclose(weights, [0.0625, 0.0625, 0.04], rtol=1e-6)
    assert weights.dtype == np.float32
    # nu = 0: (1 + 0)^-2 = 1, plain BvSB; a numpy prior gives the same weights
    np.testing.assert_array_equal(pixbal_weights(np.array([0.3, 0.3, 0.4]), 0.0), np.ones(3))


def test_prior_accumulator_averages_batch_means() -> None:
    acc = PriorAccumulator()
    # batch 1: one pixel [1, 0]; batch 2: three pixels [0, 1] -> batch means [1, 0] and [0, 1]
    acc.update(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    acc.update(torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 1, 3))
    assert acc.n_batches == 2
    # mean of the batch means = [0.5, 0.5] (MulActSeg), not the pixel mean [1/4, 3/4]
    torch.testing.assert_close(acc.value(), torch.tensor([0.5, 0.5]))


def test_prior_accumulator_guards() -> None:
    acc = PriorAccumulator()
    with pytest.raises(ValueError, match="at least 1 batch"):
        acc.value()
    acc.update(torch.full((1, 2, 1, 1), 0.5))
    with pytest.raises(ValueError, match="C=2"):
        acc.update(torch.full((1, 3, 1, 1), 1 / 3))
    with pytest.raises(ValueError, match="nu must be"):
        pixbal_weights(torch.ones(3), nu=-1.0)


# ----------------------------------------------------------------------------- ClassBal


def test_classbal_four_regions_by_hand() -> None:
    u = np.array([0.2, 0.6, 1.0, 0.4])
    d = np.array([0, 0, 1, 0])
    selected = np.array([False, False, False, True])
    # rho = [3/4, 1/4, 0] (region 3 is selected but still counted); w = exp(-rho)
    # minmax(u) with min 0.2, max 1.0: [0, 0.5, 1, 0.25]
    # f = [e^-0.75 * 0, e^-0.75 * 0.5, e^-0.25 * 1, selected -> 0]
    expected = np.array([0.0, 0.5 * math.exp(-0.75), math.exp(-0.25), 0.0])
    out = classbal_region_scores(u, d, 3, selected)
    np.testing.assert_allclose(out, expected)
    assert out[2] == pytest.approx(0.778801, abs=1e-6)
    assert out[1] == pytest.approx(0.236183, abs=1e-6)


def test_classbal_empty_region_and_constant_u() -> None:
    # region 2 has no pixels (NaN): not counted in rho, score stays NaN
    u = torch.tensor([0.5, 0.5, float("nan")])
    d = torch.tensor([1, 0, 0])
    out = classbal_region_scores(u, d, 2, np.zeros(3, dtype=bool))
    # rho = [1/2, 1/2]; max u = min u -> normalised term 1; f = exp(-0.5) for both
    np.testing.assert_allclose(out[:2], [math.exp(-0.5)] * 2)
    assert np.isnan(out[2])


def test_classbal_guards() -> None:
    with pytest.raises(ValueError, match="region_dominant_pred"):
        classbal_region_scores(np.ones(2), np.array([0.0, 1.0]), 2, np.zeros(2, dtype=bool))
    with pytest.raises(ValueError, match="selected_mask"):
        classbal_region_scores(np.ones(2), np.array([0, 1]), 2, np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        classbal_region_scores(np.ones(2), np.array([0, 2]), 2, np.zeros(2, dtype=bool))


# ----------------------------------------------------------------------------- CBAL


def test_cbal_two_classes_by_hand() -> None:
    h = np.array([0.5, 0.3, 0.9, np.nan])
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [np.nan, np.nan]])
    delta = np.array([1, 3])  # normalised: [0.25, 0.75]
    labelled = np.array([False, False, True, False])
    out = cbal_region_scores(h, p, delta, 2.0, labelled)
    # r0: |0.9 - 0.25| + |0.1 - 0.75| = 1.3 -> 0.5 - 2 * 1.3 = -2.1
    # r1: |0.5 - 0.25| + |0.5 - 0.75| = 0.5 -> 0.3 - 2 * 0.5 = -0.7
    # r2: labelled -> -inf; r3: no pixels -> NaN
    np.testing.assert_allclose(out[:2], [-2.1, -0.7])
    assert out[2] == -np.inf
    assert np.isnan(out[3])
    # lam = 0 gives the plain mean entropy
    np.testing.assert_allclose(cbal_region_scores(h[:2], p[:2], delta, 0.0), [0.5, 0.3])


def test_cbal_region_statistics_by_hand() -> None:
    # pixel 0 = [0.5, 0.3, 0.2] in region 0, pixel 1 = [0.1, 0.3, 0.6] in region 1, region 2
    # empty: H(pixel 0) = -(0.5 ln 0.5 + 0.3 ln 0.3 + 0.2 ln 0.2) = 1.029653,
    # H(pixel 1) = -(0.1 ln 0.1 + 0.3 ln 0.3 + 0.6 ln 0.6) = 0.897946
    entropy, mean_probs = cbal_region_statistics(_probs_1x3x1x2(), torch.tensor([[[0, 1]]]), 3)
    torch.testing.assert_close(
        entropy, torch.tensor([[1.029653, 0.897946, math.nan]]), equal_nan=True
    )
    expected = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [math.nan] * 3]])
    torch.testing.assert_close(mean_probs, expected, equal_nan=True)


def test_cbal_region_statistics_equal_the_separate_reductions() -> None:
    g = torch.Generator().manual_seed(3)
    probs = (torch.randn(3, 5, 9, 7, generator=g) * 4).softmax(dim=1)
    regions = torch.randint(-1, 6, (3, 9, 7), generator=g)  # ids 6, 7 empty; -1 ignored
    entropy, mean_probs = cbal_region_statistics(probs, regions, 8)
    pixel_entropy = -torch.special.xlogy(probs, probs).sum(dim=1)
    torch.testing.assert_close(
        entropy, aggregate_regions(pixel_entropy, regions, 8, "mean"), equal_nan=True
    )
    torch.testing.assert_close(mean_probs, region_means(probs, regions, 8), equal_nan=True)
    assert entropy[:, 6:].isnan().all()


def test_cbal_guards() -> None:
    with pytest.raises(ValueError, match="positive sum"):
        cbal_region_scores(np.ones(1), np.full((1, 2), 0.5), np.zeros(2))
    with pytest.raises(ValueError, match="C=2"):
        cbal_region_scores(np.ones(1), np.full((1, 2), 0.5), np.ones(3))
    with pytest.raises(ValueError, match="labelled_mask"):
        cbal_region_scores(np.ones(1), np.full((1, 2), 0.5), np.ones(2), 2.0, np.array([1]))
