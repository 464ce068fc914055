import numpy as np
import pytest
import torch

from alseg.acquisition.aggregate import aggregate_regions
from alseg.acquisition.balanced import PriorAccumulator, classbal_region_scores, pixbal_weights
from alseg.acquisition.policies import (
    Policy,
    PoolBatch,
    SelectPool,
    get_policy,
    policy_names,
)
from alseg.acquisition.uncertainty import pixel_uncertainty


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(2, 3, 6, 5, generator=g) * 3, dim=1)
    regions = torch.randint(0, 4, (2, 6, 5), generator=g)
    return probs, regions


def statistics(name: str, probs: torch.Tensor, regions: torch.Tensor, **settings):
    policy = get_policy(name, get_policy(name).Settings(**settings))
    return policy.region_statistics(PoolBatch(probs, regions, 4, 0, 0))


def pool(n: int, num_classes: int, **columns) -> SelectPool:
    base = dict(score=np.zeros(n, np.float32), vector=np.zeros((n, 0), np.float32),
                pred_class=np.full(n, -1), labelled=np.zeros(n, bool), eligible=np.ones(n, bool),
                costs=np.ones(n, np.int32), class_counts=np.zeros(num_classes, np.int64),
                class_prior=None, clicks=5, overshoot=False, label_type="dominant")  # fmt: skip
    return SelectPool(**{**base, **columns})


def test_the_built_in_policies_and_what_they_need() -> None:
    assert policy_names() == ["random", "entropy", "least_confidence", "margin", "bvsb",
                              "classbal", "pixbal", "cbal", "oreal"]  # fmt: skip
    assert [n for n in policy_names() if not get_policy(n).needs_model] == ["random"]
    assert [n for n in policy_names() if get_policy(n).needs_prior] == ["pixbal"]
    pixel = [n for n in policy_names() if get_policy(n).pixel_pools]
    assert pixel == ["random", "entropy", "least_confidence", "margin"]
    assert isinstance(get_policy("oreal"), Policy)
    with pytest.raises(ValueError, match="unknown policy 'coinflip'"):
        get_policy("coinflip")


def test_one_pass_pixbal_equals_the_two_pass_definition(batch) -> None:
    # two passes (MulActSeg): the prior, then s(r) = mean over r of B(x) w_{argmax p(x)}
    probs, regions = batch
    stats = statistics("pixbal", probs, regions, nu=12.0)
    prior = PriorAccumulator()
    prior.update(probs)
    weights = torch.from_numpy(pixbal_weights(prior.value(), nu=12.0))
    pixel_scores = pixel_uncertainty(probs, "bvsb") * weights[probs.argmax(dim=1)]
    two_pass = aggregate_regions(pixel_scores, regions, 4, "mean").reshape(-1).numpy()
    vector = stats.vector.reshape(-1, 3).numpy()
    selected = pool(8, 3, score=stats.score.reshape(-1).numpy(), vector=vector,
                    class_prior=prior.value().numpy())  # fmt: skip
    one_pass = get_policy("pixbal").region_scores(selected)
    np.testing.assert_allclose(one_pass, two_pass, rtol=1e-5)


def test_pixbal_by_hand() -> None:
    # pixel 0 = [0.5, 0.3, 0.2], pixel 1 = [0.1, 0.3, 0.6]: prior = [0.3, 0.3, 0.4];
    # nu = 10 -> w = [1/16, 1/16, 1/25]; BvSB 0.6 (argmax 0) and 0.5 (argmax 2)
    # -> pixel scores 0.6 / 16 = 0.0375 and 0.5 / 25 = 0.02
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]).T.reshape(1, 3, 1, 2).contiguous()
    prior = PriorAccumulator()
    prior.update(probs)
    pixbal = get_policy("pixbal", get_policy("pixbal").Settings(nu=10.0))
    # one region holding both pixels: (0.0375 + 0.02) / 2; region 1 empty -> NaN (not scored)
    # two single-pixel regions: the pixel scores themselves
    for regions, expected in (([[[0, 0]]], [0.02875]), ([[[1, 0]]], [0.02, 0.0375])):
        stats = pixbal.region_statistics(PoolBatch(probs, torch.tensor(regions), 2, 0, 0))
        scored = ~stats.score[0].isnan()
        selected = pool(int(scored.sum()), 3, score=stats.score[0][scored].numpy(),
                        vector=stats.vector[0][scored].numpy(),
                        class_prior=prior.value().numpy())  # fmt: skip
        np.testing.assert_allclose(pixbal.region_scores(selected), expected, rtol=1e-6)


def test_classbal_uses_the_mode_of_the_predicted_class(batch) -> None:
    probs, regions = batch
    stats = statistics("classbal", probs, regions)
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
    got = get_policy("classbal").region_scores(pool(8, 3, score=score, pred_class=pred))
    np.testing.assert_allclose(got, expected)


def test_cbal_vector_is_the_region_mean_probability(batch) -> None:
    probs, regions = batch
    stats = statistics("cbal", probs, regions)
    inside = regions[0] == 2
    np.testing.assert_allclose(stats.vector[0, 2].numpy(), probs[0][:, inside].mean(1).numpy(),
                               rtol=1e-5)  # fmt: skip


def test_cbal_scores_use_its_lambda() -> None:
    # H = 1, p = (1, 0), delta = ItemsPerClass((0, 0), Q = 2) = (1, 1) -> || p - 1/2 ||_1 = 1
    cbal = get_policy("cbal", get_policy("cbal").Settings(lam=0.5))
    got = cbal.region_scores(pool(1, 2, score=np.ones(1), vector=np.array([[1.0, 0.0]]), clicks=2))
    assert got.tolist() == [0.5]


def test_oreal_score_is_the_largest_class_score(batch) -> None:
    probs, regions = batch
    stats = statistics("oreal", probs, regions, aggregation="max")
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
    stats = statistics("pixbal", probs, regions)
    expected = aggregate_regions(pixel_uncertainty(probs, "bvsb"), regions, 4, "mean")
    torch.testing.assert_close(stats.score, expected, equal_nan=True)
    assert stats.score[1, 3].isnan()


def test_measures_aggregate_their_own_uncertainty(batch) -> None:
    probs, regions = batch
    stats = statistics("margin", probs, regions, aggregation="max")
    expected = aggregate_regions(pixel_uncertainty(probs, "margin"), regions, 4, "max")
    torch.testing.assert_close(stats.score, expected, equal_nan=True)


def test_random_scores_every_present_region_from_the_seed() -> None:
    regions = torch.tensor([[[0, 0, 2], [0, 2, 2]]])  # region 1 absent
    random = get_policy("random")
    first = random.region_statistics(PoolBatch(None, regions, 3, 4, 7)).score
    again = random.region_statistics(PoolBatch(None, regions, 3, 4, 7)).score
    torch.testing.assert_close(first, again, equal_nan=True)
    assert first[0, 1].isnan() and not first[0, [0, 2]].isnan().any()
