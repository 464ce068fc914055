import numpy as np
import pytest
import torch

from alseg.acquisition.aggregate import aggregate_regions
from alseg.acquisition.balanced import (
    PriorAccumulator,
    classbal_region_scores,
    pixbal_region_scores,
    pixbal_weights,
)
from alseg.acquisition.policies import region_scores, region_statistics
from alseg.acquisition.uncertainty import pixel_uncertainty


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(2, 3, 6, 5, generator=g) * 3, dim=1)
    regions = torch.randint(0, 4, (2, 6, 5), generator=g)
    return probs, regions


def test_one_pass_pixbal_equals_the_two_pass_definition(batch) -> None:
    probs, regions = batch
    stats = region_statistics(probs, regions, 4, "pixbal")
    prior = PriorAccumulator()
    prior.update(probs)
    weights = pixbal_weights(prior.value(), nu=12.0)
    two_pass = pixbal_region_scores(probs, regions, 4, weights).reshape(-1).numpy()
    one_pass = region_scores("pixbal", stats.score.reshape(-1).numpy(),
                             stats.vector.reshape(-1, 3).numpy(), None, np.zeros(8, bool),
                             np.zeros(3, np.int64), 5, prior.value().numpy(), nu=12.0)  # fmt: skip
    np.testing.assert_allclose(one_pass, two_pass, rtol=1e-5)


def test_classbal_uses_the_mode_of_the_predicted_class(batch) -> None:
    probs, regions = batch
    stats = region_statistics(probs, regions, 4, "classbal")
    predicted = probs.argmax(1)
    for b in range(2):
        for r in range(4):
            inside = predicted[b][regions[b] == r]
            if len(inside):
                counts = torch.bincount(inside, minlength=3)
                assert stats.pred_class[b, r] == int(counts.argmax())
    score = stats.score.reshape(-1).numpy()
    pred = stats.pred_class.reshape(-1).numpy()
    expected = classbal_region_scores(score, pred, 3, np.zeros(8, bool))
    got = region_scores("classbal", score, None, pred, np.zeros(8, bool), np.zeros(3), 5)
    np.testing.assert_allclose(got, expected)


def test_cbal_vector_is_the_region_mean_probability(batch) -> None:
    probs, regions = batch
    stats = region_statistics(probs, regions, 4, "cbal")
    inside = regions[0] == 2
    np.testing.assert_allclose(stats.vector[0, 2].numpy(), probs[0][:, inside].mean(1).numpy(),
                               rtol=1e-5)  # fmt: skip


def test_oreal_score_is_the_largest_class_score(batch) -> None:
    probs, regions = batch
    stats = region_statistics(probs, regions, 4, "oreal", aggregation="max")
    torch.testing.assert_close(stats.score, stats.vector.amax(-1))
    assert stats.vector.shape == (2, 4, 3)


def test_region_class_sums_by_hand() -> None:
    from alseg.acquisition.aggregate import region_class_sums

    values = torch.tensor([[[0.5, 0.25], [1.0, 2.0]]])
    pred = torch.tensor([[[0, 1], [1, 1]]])
    regions = torch.tensor([[[0, 0], [1, -1]]])
    # region 0: class 0 -> 0.5, class 1 -> 0.25; region 1: class 1 -> 1.0; pixel -1 ignored
    sums = region_class_sums(values, pred, regions, 2, 2)
    assert sums.tolist() == [[[0.5, 0.25], [0.0, 1.0]]]


def test_pixbal_score_is_the_region_mean_bvsb(batch) -> None:
    # PixBal's score column is the sum over c of its per-class BvSB means: the plain mean BvSB
    probs, regions = batch
    regions = regions.clone()
    regions[1] = regions[1].clamp_max(2)  # region 3 of image 1 empty -> NaN
    stats = region_statistics(probs, regions, 4, "pixbal")
    expected = aggregate_regions(pixel_uncertainty(probs, "bvsb"), regions, 4, "mean")
    torch.testing.assert_close(stats.score, expected, equal_nan=True)
    assert stats.score[1, 3].isnan()
