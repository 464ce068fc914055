"""Unit tests for alseg.acquisition.{uncertainty, aggregate, select} on hand-computed cases."""

from __future__ import annotations

import math
import os
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
import torch

from alseg.acquisition import aggregate
from alseg.acquisition.aggregate import (
    AGGREGATIONS,
    aggregate_regions,
    region_class_histogram,
    region_means,
    region_p95,
    region_row_ids,
    region_vectors,
)
from alseg.acquisition.select import random_scores, rank_order, select_under_budget
from alseg.acquisition.uncertainty import (
    MEASURES,
    ensure_probs,
    pixel_uncertainty,
    top_two_with_argmax,
)

NAN = float("nan")


def _probs_at_one_pixel(p: list[float]) -> torch.Tensor:
    """(1, C, 1, 1) tensor holding the probability vector p at a single pixel."""
    return torch.tensor(p, dtype=torch.float32).view(1, -1, 1, 1)


# ----------------------------------------------------------------------------- uncertainty


def test_uniform_probs_c4() -> None:
    probs = torch.full((2, 4, 3, 5), 0.25)
    # entropy = -4 * 0.25 * ln 0.25 = ln 4 = 1.386294
    ent = pixel_uncertainty(probs, "entropy")
    assert ent.shape == (2, 3, 5) and ent.dtype == torch.float32
    torch.testing.assert_close(ent, torch.full((2, 3, 5), math.log(4)))
    # LC = 1 - 0.25 = 0.75
    torch.testing.assert_close(
        pixel_uncertainty(probs, "least_confidence"), torch.full_like(ent, 0.75)
    )
    # margin = 1 - (0.25 - 0.25) = 1
    torch.testing.assert_close(pixel_uncertainty(probs, "margin"), torch.ones_like(ent))
    # bvsb = 0.25 / (0.25 + 1e-8) = 1 - 4e-8
    torch.testing.assert_close(pixel_uncertainty(probs, "bvsb"), torch.ones_like(ent))


def test_one_hot_is_certain() -> None:
    probs = _probs_at_one_pixel([0.0, 1.0, 0.0])
    for measure in ("entropy", "least_confidence", "margin", "bvsb"):
        # entropy: 0 log 0 = 0 and 1 log 1 = 0; LC 1 - 1; margin 1 - (1 - 0); bvsb 0 / 1
        out = pixel_uncertainty(probs, measure)
        assert out.item() == 0.0, measure
        assert not torch.isnan(out).any()


def test_three_class_hand_values() -> None:
    probs = _probs_at_one_pixel([0.2, 0.5, 0.3])  # sorted: p1 = 0.5, p2 = 0.3
    # entropy = -(0.5 ln 0.5 + 0.3 ln 0.3 + 0.2 ln 0.2) = 0.346574 + 0.361192 + 0.321888
    expected_entropy = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert expected_entropy == pytest.approx(1.029653, abs=1e-6)
    assert pixel_uncertainty(probs, "entropy").item() == pytest.approx(expected_entropy, abs=1e-6)
    assert pixel_uncertainty(probs, "least_confidence").item() == pytest.approx(0.5)  # 1 - 0.5
    assert pixel_uncertainty(probs, "margin").item() == pytest.approx(0.8)  # 1 - (0.5 - 0.3)
    assert pixel_uncertainty(probs, "bvsb").item() == pytest.approx(0.6)  # 0.3 / 0.5


def test_margin_ranks_like_pixelpick() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(1, 5, 8, 8, generator=g).softmax(dim=1)
    top2 = probs.topk(2, dim=1).values
    pixelpick_m = (top2[:, 0] - top2[:, 1]).flatten()  # smaller = more uncertain
    ours = pixel_uncertainty(probs, "margin").flatten()  # larger = more uncertain
    assert torch.equal(torch.argsort(pixelpick_m, stable=True), torch.argsort(-ours, stable=True))


def test_float64_and_half_inputs_give_float32() -> None:
    probs = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
    # entropy of (0.5, 0.5) = ln 2
    out = pixel_uncertainty(probs, "entropy")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full((1, 2, 2), math.log(2), dtype=torch.float32))
    assert pixel_uncertainty(probs.half(), "least_confidence").dtype == torch.float32


def test_top_two_with_argmax_matches_topk_and_max() -> None:
    g = torch.Generator().manual_seed(0)
    for classes in (2, 3, 11):
        probs = torch.rand(2, classes, 5, 4, generator=g).softmax(dim=1)
        first, second, winner = top_two_with_argmax(probs)
        top2 = probs.topk(2, dim=1).values
        assert torch.equal(first, top2[:, 0]) and torch.equal(second, top2[:, 1])
        assert torch.equal(winner, probs.argmax(dim=1)) and winner.dtype == torch.int64


def test_top_two_ties_give_equal_values_and_the_lowest_class() -> None:
    # pixels (0.4, 0.4, 0.2), (0.2, 0.4, 0.4), (0.3, 0.3, 0.4), (0.5, 0.5, 0)
    probs = torch.tensor([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
    first, second, winner = top_two_with_argmax(probs.T.reshape(1, 3, 1, 4))
    torch.testing.assert_close(first.flatten(), torch.tensor([0.4, 0.4, 0.4, 0.5]))
    torch.testing.assert_close(second.flatten(), torch.tensor([0.4, 0.4, 0.3, 0.5]))
    assert winner.flatten().tolist() == [0, 1, 2, 0]


def test_entropy_equals_the_xlogy_definition() -> None:
    g = torch.Generator().manual_seed(1)
    probs = (torch.randn(2, 6, 7, 5, generator=g) * 8).softmax(dim=1)
    probs[0, :, 0, 0] = torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0, 0.0])  # 0 log 0 = 0 -> ln 2
    expected = -torch.special.xlogy(probs, probs).sum(dim=1)
    out = pixel_uncertainty(probs, "entropy")
    torch.testing.assert_close(out, expected)
    assert out[0, 0, 0].item() == pytest.approx(math.log(2))


def test_uncertainty_guards() -> None:
    probs = torch.full((1, 2, 2, 2), 0.5)
    with pytest.raises(ValueError, match="least_confidence"):
        pixel_uncertainty(probs, "variance")
    with pytest.raises(ValueError, match="4-D"):
        ensure_probs(torch.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match="floating"):
        ensure_probs(torch.ones((1, 2, 2, 2), dtype=torch.int64))
    with pytest.raises(ValueError, match="at least 2 classes"):
        ensure_probs(torch.ones((1, 1, 2, 2)))
    assert set(MEASURES) == {"entropy", "least_confidence", "margin", "bvsb"}


# ----------------------------------------------------------------------------- aggregate

# One 2x3 image, 4 regions (region 3 has no pixels), one pixel outside every region:
#   scores  0.1 0.2 0.3      regions  0  0  1
#           0.4 0.5 0.6               2  1 -1
# r0 = {0.1, 0.2}: mean 0.15, max 0.2, p95 rank ceil(0.95*2)=2 -> 0.2
# r1 = {0.3, 0.5}: mean 0.40, max 0.5, p95 rank 2 -> 0.5
# r2 = {0.4}:      mean 0.40, max 0.4, p95 rank ceil(0.95)=1 -> 0.4
# r3 = {}:         NaN;  the 0.6 pixel (region -1) is ignored.
SCORES = torch.tensor([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]])
REGIONS = torch.tensor([[[0, 0, 1], [2, 1, -1]]])
EXPECTED = {
    "mean": [0.15, 0.4, 0.4, NAN],
    "max": [0.2, 0.5, 0.4, NAN],
    "p95": [0.2, 0.5, 0.4, NAN],
}


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_hand_case(how: str) -> None:
    out = aggregate_regions(SCORES, REGIONS, n_regions=4, how=how)
    assert out.shape == (1, 4) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([EXPECTED[how]]), equal_nan=True)
    assert torch.isnan(out[0, 3])  # empty region


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_batch_offsets(how: str) -> None:
    # Image 1 = image 0 + 10 with the same region ids: segments b * 4 + r must not mix.
    scores = torch.cat([SCORES, SCORES + 10.0])
    regions = torch.cat([REGIONS, REGIONS])
    out = aggregate_regions(scores, regions, n_regions=4, how=how)
    expected = torch.tensor([EXPECTED[how], [v + 10.0 for v in EXPECTED[how]]])
    torch.testing.assert_close(out, expected, equal_nan=True)


def test_aggregate_ignores_minus_one() -> None:
    # A huge score at the -1 pixel must not leak into any region (max of r0..r2 stays <= 0.5).
    scores = SCORES.clone()
    scores[0, 1, 2] = 1000.0
    for how in AGGREGATIONS:
        out = aggregate_regions(scores, REGIONS, n_regions=4, how=how)
        torch.testing.assert_close(out, torch.tensor([EXPECTED[how]]), equal_nan=True)


def test_p95_nearest_rank() -> None:
    # One 1x41 image: region 0 holds 1..20, region 1 holds 1..21 (shuffled).
    # n=20 -> rank ceil(19.0)=19 -> value 19;  n=21 -> rank ceil(19.95)=20 -> value 20.
    g = torch.Generator().manual_seed(1)
    vals = torch.cat([torch.arange(1.0, 21.0), torch.arange(1.0, 22.0)])
    ids = torch.cat([torch.zeros(20, dtype=torch.int64), torch.ones(21, dtype=torch.int64)])
    perm = torch.randperm(41, generator=g)
    out = aggregate_regions(vals[perm].view(1, 1, 41), ids[perm].view(1, 1, 41), 2, "p95")
    assert out.tolist() == [[19.0, 20.0]]


def _both_p95(values: torch.Tensor, regions: torch.Tensor, n: int,
              fold_half: bool = False) -> list[torch.Tensor]:  # fmt: skip
    """region_p95 by the CPU kernel and by the sorting path (the one other devices take)."""
    b, k, h, w = values.shape
    ids = region_row_ids(regions, (b, h, w), n, values.device)
    sorted_path = aggregate._p95_by_sorting(values.reshape(b, k, h * w), ids, n, fold_half)
    return [region_p95(values, regions, n, fold_half), sorted_path]


def test_p95_ties_signed_zeros_infinities_and_nan() -> None:
    # region 0 sorted: -inf, -0, +0, 2, 2, 3, inf (n = 7 -> rank ceil(6.65) = 7 -> inf);
    # region 1 empty -> NaN; region 2 = {-5.5} -> -5.5; the 20 pixels of region 3: 1..19 and
    # -0 -> rank 19 -> 18; region 4: {1, NaN, 2} -> rank 3 = NaN (NaN sorts last, as
    # torch.sort); region 5: 18 x 0.0, 2 x NaN -> rank 19 = NaN; 19 x 0, 1 NaN -> rank 19 = 0
    vals = [3.0, -0.0, 0.0, -math.inf, math.inf, 2.0, 2.0, -5.5, *range(1, 20), -0.0,
            1.0, NAN, 2.0, *[0.0] * 18, NAN, NAN, *[-0.0] * 19, NAN]  # fmt: skip
    ids = [0] * 7 + [2] + [3] * 20 + [4] * 3 + [5] * 20 + [6] * 20
    values = torch.tensor(vals).view(1, 1, 1, -1)
    regions = torch.tensor(ids).view(1, 1, -1)
    for out in _both_p95(values, regions, 7):
        got = out.view(-1)
        assert got[0] == math.inf and got[2] == -5.5 and got[3] == 18.0 and got[6] == 0.0
        assert got[[1, 4, 5]].isnan().all()


def test_p95_of_one_region_per_rank_rule() -> None:
    # n values 0..n-1 shuffled: rank ceil(0.95 n) -> value ceil(0.95 n) - 1, for every n the
    # integer rule (95 n + 99) // 100 meets (n = 1..60: sizes below and above the
    # insertion-sort cut and the histogram's width)
    g = torch.Generator().manual_seed(5)
    for n in range(1, 61):
        values = torch.randperm(n, generator=g).float().view(1, 1, 1, n)
        for out in _both_p95(values, torch.zeros(1, 1, n, dtype=torch.long), 1):
            assert out.item() == math.ceil(round(0.95 * n, 9)) - 1, n


def test_p95_folds_at_one_half() -> None:
    # fold_half reads min(v, 1 - v): {0.9, 0.2, 0.6, 0.45} -> {0.1, 0.2, 0.4, 0.45}: rank 4
    # -> 0.45; NaN stays NaN and sorts last: {NaN} -> NaN
    values = torch.tensor([0.9, 0.2, 0.6, 0.45, NAN]).view(1, 1, 1, 5)
    regions = torch.tensor([0, 0, 0, 0, 1]).view(1, 1, 5)
    for out in _both_p95(values, regions, 2, fold_half=True):
        assert out[0, 0, 0] == torch.tensor(0.45) and out[0, 1, 0].isnan()
    assert region_p95(values, regions, 2)[0, 0, 0] == torch.tensor(0.9)


def test_p95_same_with_images_taken_in_turn_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from alseg.acquisition import rank_select

    g = torch.Generator().manual_seed(4)
    values, regions = torch.rand(5, 3, 20, 30, generator=g), torch.randint(-1, 9, (5, 20, 30))
    kernel, calls, helper_called = rank_select.region_percentile, [], threading.Event()

    def recorded(v: np.ndarray, *args: object) -> np.ndarray:
        # the calling thread holds its images until a helper has taken one (10 s at most), so
        # the helpers' part shows in the record whatever the scheduler does
        if threading.current_thread() is threading.main_thread():
            helper_called.wait(10) if len(v) == 1 else None
        else:
            helper_called.set()
        calls.append((len(v), threading.current_thread().name))
        return kernel(v, *args)

    monkeypatch.setattr(rank_select, "region_percentile", recorded)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = region_p95(values, regions, 9)
        torch.set_num_threads(3)
        assert torch.equal(region_p95(values, regions, 9).nan_to_num(7), one.nan_to_num(7))
    finally:
        torch.set_num_threads(threads)
    assert [n for n, _ in calls] == [5] + [1] * 5  # one call, then the images one by one
    assert calls[0][1] == "MainThread" and any(t.startswith("alseg-p95") for _, t in calls[1:])
    assert torch.equal(one.nan_to_num(7), _both_p95(values, regions, 9)[1].nan_to_num(7))


def test_p95_helper_threads_in_a_forked_child() -> None:
    # a forked child inherits the parent's helper pool object but not its threads: it must get a
    # pool of its own
    rng = np.random.default_rng(0)
    vals, ids = rng.random((4, 2, 300), dtype=np.float32), rng.integers(0, 6, (4, 300))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        expected = aggregate._p95_compiled(vals, ids, 5, False)  # starts the parent's pool
        parent_pool = aggregate._helper_pool(2)
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 = own pool and the same result
            same = np.array_equal(aggregate._p95_compiled(vals, ids, 5, False), expected,
                                  equal_nan=True)  # fmt: skip
            os._exit(0 if same and aggregate._helper_pool(2) is not parent_pool else 1)
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        torch.set_num_threads(threads)
    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0


def test_p95_of_large_regions_reads_several_levels() -> None:
    # 2 regions of 5000 values each (ties included; the second bunched in a few keys): p95 =
    # the value at rank ceil(0.95 n) of the sorted values
    g = torch.Generator().manual_seed(3)
    vals = torch.cat([torch.rand(5000, generator=g), torch.randint(0, 40, (5000,), generator=g)
                      .float() * 1e-3])  # fmt: skip
    ids = torch.arange(10000) // 5000
    out = aggregate_regions(vals.view(1, 1, -1), ids.view(1, 1, -1), 2, "p95")
    expected = [v.sort().values[4749].item() for v in vals.view(2, 5000)]
    assert out.view(-1).tolist() == expected


def test_p95_when_the_sample_floor_keeps_too_few() -> None:
    # One region of 400 pixels: the kernel's floor sample is every 8th pixel (50 of them, here
    # 101..150), the rest is 0..1. above = 400 - 380 + 1 = 21 values hold rank 380; the floor
    # is the sample's 2 floor(21 * 50 / 400) + 3 = 7th largest, 144, which keeps only 7 < 21:
    # the region is read whole. p95 = the 21st largest = 130. A second region of 400 (values
    # 0..399 shuffled) takes the sampled path: p95 = 379.
    g = torch.Generator().manual_seed(6)
    trap = torch.rand(400, generator=g)
    trap[::8] = torch.arange(101.0, 151.0)[torch.randperm(50, generator=g)]
    plain = torch.randperm(400, generator=g).float()
    values = torch.cat([trap, plain]).view(1, 1, 1, 800)
    regions = (torch.arange(800) // 400).view(1, 1, 800)
    for out in _both_p95(values, regions, 2):
        assert out.view(-1).tolist() == [130.0, 379.0]


def _sorted_p95(values: torch.Tensor, regions: torch.Tensor, n_regions: int) -> torch.Tensor:
    """Reference: per image and region, sort the values, take 1-based rank ceil(0.95 n)."""
    out = torch.full((values.shape[0], n_regions), NAN, dtype=values.dtype)
    for b in range(values.shape[0]):
        for r in range(n_regions):
            v = values[b][regions[b] == r].sort().values
            if v.numel():
                out[b, r] = v[math.ceil(0.95 * v.numel()) - 1]
    return out


def _uneven_regions(g: torch.Generator, shape: tuple[int, int, int], n: int) -> torch.Tensor:
    """Region maps with sizes from a few pixels to most of the image, pixels of region -1 and
    empty regions: ids drawn with skewed weights, ids 2 and n - 1 never drawn."""
    weights = torch.rand(n, generator=g) ** 6 + 1e-3
    weights[[2, n - 1]] = 0
    ids = torch.multinomial(weights, shape[0] * shape[1] * shape[2], True, generator=g)
    ids = ids.view(shape)
    ids[:, 0, :5] = -1
    return ids


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_p95_equals_sorted_reference(seed: int) -> None:
    # random values with ties, empty regions, uneven sizes (a few pixels to most of the image),
    # pixels outside every region, over key spans that take one histogram level (keys differing
    # in 7 bits), several (values bunched near one point, an outlier widening the span), values
    # across many binades and of both signs: both paths equal a per-region sort
    g = torch.Generator().manual_seed(seed)
    shape, n = (3, 40, 50), 12
    regions = _uneven_regions(g, shape, n)
    bunched = 0.3 + torch.rand(shape, generator=g) * 1e-5
    bunched[0, 5, :3] = 1e-20
    planes = {
        "few": 1 + torch.randint(0, 100, shape, generator=g) * 2.0**-23,
        "ties": torch.randint(0, 50, shape, generator=g).float() * 1e-3,
        "spread": torch.rand(shape, generator=g),
        "bunched": bunched,
        "binades": torch.exp(-40 * torch.rand(shape, generator=g)),
        "signed": torch.randn(shape, generator=g) * 3,
    }
    for name, values in planes.items():
        expected = _sorted_p95(values, regions, n)
        out = aggregate_regions(values, regions, n, "p95")
        assert torch.equal(out.isnan(), expected.isnan()), name
        assert torch.equal(out.nan_to_num(7.0), expected.nan_to_num(7.0)), name
        stacked = torch.stack([values, values.flip(-1)], 1)  # (B, 2, H, W): 2 channels
        reference = torch.stack([expected, _sorted_p95(values.flip(-1), regions, n)], -1)
        for vectors in (
            region_vectors(stacked, regions, n, "p95"),
            *_both_p95(stacked, regions, n),
        ):
            assert torch.equal(vectors.nan_to_num(7.0), reference.nan_to_num(7.0)), name


def test_aggregate_all_pixels_unassigned() -> None:
    regions = torch.full((1, 2, 3), -1, dtype=torch.int64)
    for how in AGGREGATIONS:
        out = aggregate_regions(SCORES, regions, n_regions=2, how=how)
        assert out.shape == (1, 2) and torch.isnan(out).all()


def test_aggregate_guards() -> None:
    with pytest.raises(ValueError, match="n_regions=2"):
        aggregate_regions(SCORES, REGIONS, n_regions=2, how="mean")  # max id is 2
    with pytest.raises(ValueError, match="p95"):
        aggregate_regions(SCORES, REGIONS, n_regions=4, how="median")
    with pytest.raises(ValueError, match="shape"):
        aggregate_regions(SCORES, REGIONS[:, :1], n_regions=4, how="mean")
    with pytest.raises(ValueError, match=">= -1"):
        aggregate_regions(SCORES, REGIONS - 1, n_regions=4, how="mean")  # has id -2
    with pytest.raises(ValueError, match="integer"):
        aggregate_regions(SCORES, REGIONS.float(), n_regions=4, how="mean")


def _reference_aggregate(scores: np.ndarray, regions: np.ndarray, n: int, how: str) -> np.ndarray:
    """Slow per-region loop, used only as a test oracle."""
    out = np.full((scores.shape[0], n), np.nan)
    for b in range(scores.shape[0]):
        for r in range(n):
            v = np.sort(scores[b][regions[b] == r].astype(np.float64))
            if v.size == 0:
                continue
            if how == "mean":
                out[b, r] = v.mean()
            elif how == "max":
                out[b, r] = v.max()
            else:
                out[b, r] = v[math.ceil(Fraction(95, 100) * v.size) - 1]
    return out


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_matches_slow_reference(how: str) -> None:
    rng = np.random.default_rng(123)
    scores = (rng.random((4, 64, 64)) - 2.0).astype(np.float32)  # negative: max is not >= 0
    regions = rng.integers(-1, 48, size=(4, 64, 64))  # ids 48 and 49 stay empty
    regions[1, :32] = 7  # one big region of 2048+ pixels in image 1
    out = aggregate_regions(torch.from_numpy(scores), torch.from_numpy(regions), 50, how)
    ref = _reference_aggregate(scores, regions, 50, how)
    assert np.isnan(ref[:, 48:]).all()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_region_class_histogram_hand_case() -> None:
    #   pred  0 0 1     regions  0  0  1
    #         2 1 1              2  1 -1
    # r0: classes {0, 0} -> [2, 0, 0];  r1: {1, 1} -> [0, 2, 0];  r2: {2} -> [0, 0, 1];
    # r3: empty -> [0, 0, 0];  the (1, 2) pixel has region -1 and is not counted.
    pred = torch.tensor([[[0, 0, 1], [2, 1, 1]]])
    hist = region_class_histogram(pred, REGIONS, n_regions=4, num_classes=3)
    assert hist.dtype == torch.int64 and hist.shape == (1, 4, 3)
    assert hist.tolist() == [[[2, 0, 0], [0, 2, 0], [0, 0, 1], [0, 0, 0]]]
    # batch of 2: image 1 predicts class 2 everywhere -> counts land in its own rows only
    pred2 = torch.cat([pred, torch.full_like(pred, 2)])
    hist2 = region_class_histogram(pred2, torch.cat([REGIONS, REGIONS]), 4, 3)
    assert hist2[0].tolist() == hist[0].tolist()
    assert hist2[1].tolist() == [[0, 0, 2], [0, 0, 2], [0, 0, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match="num_classes"):
        region_class_histogram(pred, REGIONS, n_regions=4, num_classes=2)  # class 2 present


def test_region_means_hand_case() -> None:
    # channel 0 = scores, channel 1 = 1 - scores:
    # r0: [0.15, 0.85], r1: [(0.3+0.5)/2, (0.7+0.5)/2] = [0.4, 0.6], r2: [0.4, 0.6], r3: NaN
    values = torch.stack([SCORES, 1.0 - SCORES], dim=1)  # (1, 2, 2, 3)
    out = region_means(values, REGIONS, n_regions=4)
    assert out.shape == (1, 4, 2) and out.dtype == torch.float32
    expected = torch.tensor([[[0.15, 0.85], [0.4, 0.6], [0.4, 0.6], [NAN, NAN]]])
    torch.testing.assert_close(out, expected, equal_nan=True)
    # consistency with aggregate_regions(mean) on each channel
    torch.testing.assert_close(
        out[..., 0], aggregate_regions(SCORES, REGIONS, 4, "mean"), equal_nan=True
    )


# ----------------------------------------------------------------------------- select


def test_random_scores_reproducible() -> None:
    a, b = random_scores(100, seed=7), random_scores(100, seed=7)
    assert a.dtype == np.float32 and a.shape == (100,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_scores(100, seed=8))
    assert ((a >= 0) & (a < 1)).all()
    assert random_scores(0, seed=1).shape == (0,)


def test_rank_order_ties_and_nan() -> None:
    # descending: 0.9 (idx 1), then the 0.5 tie in ascending index (0, 2), then 0.1 (4); NaN out
    order = rank_order(np.array([0.5, 0.9, 0.5, NAN, 0.1]))
    assert order.dtype == np.int64
    assert order.tolist() == [1, 0, 2, 4]


def test_select_unit_costs_with_ties() -> None:
    scores = np.array([0.5, 0.9, 0.5, NAN, 0.1])
    ones = np.ones(5, dtype=np.int64)
    # rank [1, 0, 2, 4], cumulative cost [1, 2, 3, 4]; budget 2 -> first two
    assert select_under_budget(scores, ones, 2).tolist() == [1, 0]
    # overshoot keeps the region that crosses: cumulative 3 > 2
    assert select_under_budget(scores, ones, 2, overshoot=True).tolist() == [1, 0, 2]
    # a huge budget takes every non-NaN region; the NaN one (idx 3) is never selected
    assert select_under_budget(scores, ones, 100).tolist() == [1, 0, 2, 4]
    assert select_under_budget(scores, ones, 100, overshoot=True).tolist() == [1, 0, 2, 4]


def test_select_cost_two_regions() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    costs = np.array([2, 2, 1, 1])
    # cumulative [2, 4, 5, 6]
    assert select_under_budget(scores, costs, 4).tolist() == [0, 1]  # 4 <= 4, 5 > 4
    assert select_under_budget(scores, costs, 4, overshoot=True).tolist() == [0, 1, 2]  # 5 kept
    assert select_under_budget(scores, costs, 3).tolist() == [0]  # 2 <= 3, 4 > 3
    assert select_under_budget(scores, costs, 3, overshoot=True).tolist() == [0, 1]  # 4 kept
    # budget 1 < first cost 2: nothing fits; overshoot still keeps the crossing region
    assert select_under_budget(scores, costs, 1).tolist() == []
    assert select_under_budget(scores, costs, 1, overshoot=True).tolist() == [0]


def test_select_eligible_mask() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    costs = np.array([2, 2, 1, 1])
    eligible = np.array([True, False, True, True])
    # eligible rank [0, 2, 3], cumulative [2, 3, 4]; budget 3 -> [0, 2]; overshoot adds 3
    assert select_under_budget(scores, costs, 3, eligible=eligible).tolist() == [0, 2]
    got = select_under_budget(scores, costs, 3, eligible=eligible, overshoot=True)
    assert got.tolist() == [0, 2, 3]
    none = np.zeros(4, dtype=bool)
    assert select_under_budget(scores, costs, 10, eligible=none).tolist() == []


def test_select_budget_zero() -> None:
    scores = np.array([0.9, 0.8])
    costs = np.array([1, 1])
    for overshoot in (False, True):
        got = select_under_budget(scores, costs, 0, overshoot=overshoot)
        assert got.dtype == np.int64 and got.size == 0


def test_select_guards() -> None:
    scores = np.array([0.9, 0.8])
    with pytest.raises(ValueError, match="budget"):
        select_under_budget(scores, np.array([1, 1]), -1)
    with pytest.raises(ValueError, match=">= 0"):
        select_under_budget(scores, np.array([1, -1]), 3)
    with pytest.raises(ValueError, match="integers"):
        select_under_budget(scores, np.array([1.0, 1.0]), 3)
    with pytest.raises(ValueError, match="same shape"):
        select_under_budget(scores, np.array([1, 1, 1]), 3)
    with pytest.raises(ValueError, match="bool"):
        select_under_budget(scores, np.array([1, 1]), 3, eligible=np.array([1, 0]))


@pytest.mark.parametrize("how", AGGREGATIONS)
@pytest.mark.parametrize("offset", [-2.0, 0.0])
def test_region_vectors_same_on_both_memory_layouts(how: str, offset: float) -> None:
    # contiguous (B, K, H W) rows vs channels-last (pixels, K): same values, NaN for empty
    # regions, pixels of region -1 ignored (channel 1 holds a NaN, sorted last by p95)
    g = torch.Generator().manual_seed(0)
    values = torch.rand(3, 4, 9, 7, generator=g) + offset  # negative: max is not >= 0
    if offset == 0.0:
        values[0, 1, 0, 0] = NAN
    regions = torch.randint(-1, 6, (3, 9, 7), generator=g)
    rows = region_vectors(values, regions, 8, how)
    last = region_vectors(values.contiguous(memory_format=torch.channels_last), regions, 8, how)
    torch.testing.assert_close(rows, last, equal_nan=True)
    assert rows[:, 6:].isnan().all()
    for k in range(4):  # every channel as aggregate_regions reduces it
        torch.testing.assert_close(rows[..., k], aggregate_regions(values[:, k], regions, 8, how),
                                   equal_nan=True)  # fmt: skip
