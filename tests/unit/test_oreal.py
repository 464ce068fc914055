"""Unit tests for alseg.acquisition.oreal (OVR entropy, ItemsPerClass, OREAL selection)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alseg.acquisition.oreal import (
    binary_entropy,
    items_per_class,
    labelled_class_counts,
    oreal_select,
    oreal_select_weak,
    ovr_entropy,
    region_ovr_scores,
)

# ----------------------------------------------------------------------------- OVR entropy


def test_ovr_entropy_half_zero_one() -> None:
    # channel values 0.5 / 0.5 at pixel 0, 1 / 0 at pixel 1
    probs = torch.tensor([[0.5, 1.0], [0.5, 0.0]]).view(1, 2, 1, 2)
    h = ovr_entropy(probs)
    assert h.shape == (1, 2, 1, 2) and h.dtype == torch.float32
    # p = 0.5: -[0.5 ln(0.5 + 1e-7) + 0.5 ln(0.5 + 1e-7)] = -ln(0.5 + 1e-7) = ln 2 - 2e-7
    assert h[0, 0, 0, 0].item() == pytest.approx(math.log(2), abs=1e-6)
    assert h[0, 1, 0, 0].item() == pytest.approx(math.log(2), abs=1e-6)
    # p = 1: -[1 ln(1 + 1e-7) + 0 ln(1e-7)] ~ -1e-7; p = 0: same by symmetry
    assert abs(h[0, 0, 0, 1].item()) < 1e-6
    assert abs(h[0, 1, 0, 1].item()) < 1e-6


def test_region_max_ovr_entropy_is_taken_at_the_pixel_nearest_one_half() -> None:
    # one region of 3 pixels, 2 classes: p_0 = 0.1, 0.7, 0.95 (p_1 = 1 - p_0)
    # the pixel nearest 1/2 is p = 0.7: H = -(0.7 ln 0.7 + 0.3 ln 0.3) = 0.61086 for both classes
    p0 = torch.tensor([0.1, 0.7, 0.95])
    probs = torch.stack([p0, 1 - p0]).view(1, 2, 1, 3)
    regions = torch.zeros(1, 1, 3, dtype=torch.long)
    h = region_ovr_scores(probs, regions, 1, how="max")
    expected = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))
    assert h.shape == (1, 1, 2)
    assert h[0, 0].tolist() == pytest.approx([expected, expected], abs=1e-6)


def test_ovr_entropy_three_class_value() -> None:
    probs = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1)
    # class 0: -(0.2 ln 0.2 + 0.8 ln 0.8) = 0.321888 + 0.178515 = 0.500402
    expected = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert ovr_entropy(probs)[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-5)


def _slow_region_scores(
    pix: np.ndarray, regions: np.ndarray, n_regions: int, how: str
) -> np.ndarray:
    """Literal loop: pix (B, C, H, W), regions (B, H, W) -> (B, n_regions, C)."""
    b, c = pix.shape[:2]
    out = np.full((b, n_regions, c), np.nan)
    for i in range(b):
        for r in range(n_regions):
            mask = regions[i] == r
            if not mask.any():
                continue
            for k in range(c):
                v = np.sort(pix[i, k][mask])
                if how == "mean":
                    out[i, r, k] = v.mean()
                elif how == "max":
                    out[i, r, k] = v.max()
                else:  # nearest-rank p95: 1-based rank ceil(0.95 n)
                    out[i, r, k] = v[math.ceil(0.95 * v.size) - 1]
    return out


@pytest.mark.parametrize("how", ["mean", "max", "p95"])
@pytest.mark.parametrize("kind", ["ovr_entropy", "prob_x_entropy"])
def test_region_ovr_scores_matches_slow_loop(how: str, kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(2, 3, 4, 5, generator=gen).softmax(dim=1)
    regions = torch.randint(-1, 3, (2, 4, 5), generator=gen)  # ids 0..2, region 3 empty
    regions[1][regions[1] == 2] = 0  # image 1 has no region 2 either
    out = region_ovr_scores(probs, regions, 4, how=how, kind=kind)
    assert out.shape == (2, 4, 3) and out.dtype == torch.float32
    p = probs.double().numpy()
    if kind == "ovr_entropy":
        pix = -(p * np.log(p + 1e-7) + (1 - p) * np.log(1 - p + 1e-7))
    else:
        pix = p * -(p * np.log(p)).sum(axis=1, keepdims=True)  # p_c(x) * H(x)
    expected = _slow_region_scores(pix, regions.numpy(), 4, how)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isnan(out[:, 3].numpy()).all() and np.isnan(out[1, 2].numpy()).all()


def test_region_p95_ovr_entropy_of_peaked_probabilities() -> None:
    # p95 of H_c is H_c of the p95 of q = min(p, 1 - p): peaked softmax (most p_c near 0 or 1,
    # q spread over many binades), regions of 120 pixels -> rank ceil(0.95 * 120) = 114
    gen = torch.Generator().manual_seed(4)
    probs = (torch.randn(2, 5, 12, 20, generator=gen) * 8).softmax(dim=1)
    regions = (torch.arange(240) // 120).view(1, 12, 20).repeat(2, 1, 1)
    out = region_ovr_scores(probs, regions, 2, how="p95")
    p = probs.double().numpy()
    pix = -(p * np.log(p + 1e-7) + (1 - p) * np.log(1 - p + 1e-7))
    expected = _slow_region_scores(pix, regions.numpy(), 2, "p95")
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_region_p95_ovr_entropy_bit_for_bit() -> None:
    # H_c of the sorted nearest-rank p95 of q = min(p, 1 - p), equal to the last bit: classes
    # whose p never exceeds 1/2 (read in place) beside classes above 1/2 somewhere (q made),
    # empty regions and pixels outside every region
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 6, 16, 18, generator=gen)
    logits[:, :2] *= 9  # classes 0, 1 peaked: p above 1/2 at many pixels
    logits[:, 2:] *= 0.3  # classes 2..5 near one another: each below 1/2
    probs = logits.softmax(dim=1)
    assert (probs[:, 2:].amax() <= 0.5) and (probs[:, :2].amax() > 0.5)
    regions = torch.randint(-1, 7, (3, 16, 18), generator=gen)
    regions[regions == 4] = 5  # region 4 empty, 7 never drawn
    out = region_ovr_scores(probs, regions, 8, how="p95")
    q = torch.minimum(probs, 1.0 - probs)
    expected = torch.full((3, 8, 6), float("nan"))
    for b in range(3):
        for r in range(8):
            mask = regions[b] == r
            if mask.any():
                v = q[b][:, mask].sort(dim=1).values  # (C, n)
                expected[b, r] = v[:, math.ceil(0.95 * v.shape[1]) - 1]
    expected = binary_entropy(expected)
    assert torch.equal(out.isnan(), expected.isnan())
    assert torch.equal(out.nan_to_num(7.0), expected.nan_to_num(7.0))


def test_region_ovr_scores_guards() -> None:
    probs = torch.full((1, 2, 2, 2), 0.5)
    with pytest.raises(ValueError, match="kind must be"):
        region_ovr_scores(probs, torch.zeros(1, 2, 2, dtype=torch.long), 1, kind="bald")
    with pytest.raises(ValueError, match="regions must be"):
        region_ovr_scores(probs, torch.zeros(1, 2, 3, dtype=torch.long), 1)


# ----------------------------------------------------------------------------- ItemsPerClass


def _items_per_class_loop(counts: list[int], q: int, background: int | None) -> np.ndarray:
    """Algorithm 1 literally: q times c* = argmin(n + delta) (first index), delta[c*] += 1."""
    n = np.array(counts, dtype=np.int64)
    if background is not None:
        n[background] = 0
    delta = np.zeros_like(n)
    for _ in range(q):
        delta[int(np.argmin(n + delta))] += 1  # np.argmin returns the first minimum
    return delta


def test_items_per_class_by_hand() -> None:
    # n = [5, 0, 2], q = 4:
    #   [5,0,2] -> c1 -> [5,1,2] -> c1 -> [5,2,2] -> tie c1/c2 -> c1 -> [5,3,2] -> c2 -> [5,3,3]
    np.testing.assert_array_equal(items_per_class([5, 0, 2], 4), [0, 3, 1])
    # background 0 forces n_0 = 0: n = [0, 0, 2], q = 4:
    #   tie c0/c1 -> c0 [1,0,2] -> c1 [1,1,2] -> tie -> c0 [2,1,2] -> c1 [2,2,2]
    np.testing.assert_array_equal(items_per_class([5, 0, 2], 4, background=0), [2, 2, 0])
    # all equal: ties -> lowest index first: n = [1, 1, 1], q = 2 -> [1, 1, 0]
    np.testing.assert_array_equal(items_per_class([1, 1, 1], 2), [1, 1, 0])
    # q = 0 -> nothing; a single class takes everything
    np.testing.assert_array_equal(items_per_class([3, 4], 0), [0, 0])
    np.testing.assert_array_equal(items_per_class([7], 5), [5])


def test_items_per_class_equals_literal_loop_on_random_cases() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = int(rng.integers(1, 7))
        counts = rng.integers(0, 6, size=c).tolist()
        q = int(rng.integers(0, 25))
        background = int(rng.integers(0, c)) if rng.random() < 0.3 else None
        got = items_per_class(np.array(counts), q, background)
        expected = _items_per_class_loop(counts, q, background)
        np.testing.assert_array_equal(got, expected, err_msg=f"{counts} {q} {background}")
        assert got.sum() == q


def test_items_per_class_large_q_is_fast() -> None:
    # n = [0, 10], q = 10**9: fill class 0 to 10 (10 items), rest 999999990 split evenly
    # between two classes at level 10 -> 499999995 each
    np.testing.assert_array_equal(items_per_class([0, 10], 10**9), [10 + 499_999_995, 499_999_995])


def test_items_per_class_guards() -> None:
    with pytest.raises(ValueError, match="background"):
        items_per_class([1, 2], 3, background=2)
    with pytest.raises(ValueError, match="integers"):
        items_per_class(np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match=">= 0"):
        items_per_class([1, -1], 3)
    with pytest.raises(ValueError, match="q must be"):
        items_per_class([1, 2], -1)


# ----------------------------------------------------------------------------- class counts


def test_labelled_class_counts_forms() -> None:
    # id lists: region 0 has {0, 2}, region 1 {2} (duplicate counts once), region 2 void only
    lists = [[0, 2], [2, 2], [255]]
    np.testing.assert_array_equal(labelled_class_counts(lists, 3), [1, 0, 2])
    # multi-hot (N=3, C=3): column sums of presence
    multi_hot = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(labelled_class_counts(multi_hot, 3), [1, 1, 2])
    # dominant ids (1-D): bincount, 255 skipped
    dominant = np.array([2, 2, 0, 255])
    np.testing.assert_array_equal(labelled_class_counts(torch.as_tensor(dominant), 3), [1, 0, 2])
    np.testing.assert_array_equal(labelled_class_counts([], 2), [0, 0])


def test_labelled_class_counts_guards() -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        labelled_class_counts([[3]], 3)
    with pytest.raises(ValueError, match="columns"):
        labelled_class_counts(np.zeros((2, 4)), 3)
    with pytest.raises(ValueError, match="one sequence of class ids"):
        labelled_class_counts([1, 2], 3)


# ----------------------------------------------------------------------------- selection


def test_oreal_select_5x2_by_hand() -> None:
    scores = np.array(
        [
            [0.90, 0.10],  # r0
            [0.80, 0.70],  # r1
            [0.10, 0.90],  # r2
            [0.50, 0.50],  # r3
            [0.95, 0.20],  # r4 (not eligible: labelled)
        ]
    )
    eligible = np.array([True, True, True, True, False])
    # class 0, delta 2: ranking r4 (ineligible), r0, r1 -> [0, 1]
    # class 1, delta 2: ranking r2, r1 (taken by class 0), r3 -> [2, 3]
    np.testing.assert_array_equal(oreal_select(scores, [2, 2], eligible), [0, 1, 2, 3])
    # delta [0, 3]: class 1 only: r2, r1, r3
    np.testing.assert_array_equal(oreal_select(scores, [0, 3], eligible), [2, 1, 3])
    # delta [3, 3]: class 0 takes r0, r1, r3; class 1 then gets r2 only (r4 ineligible)
    np.testing.assert_array_equal(oreal_select(scores, [3, 3], eligible), [0, 1, 3, 2])


def test_oreal_select_ties_nan_and_guards() -> None:
    scores = np.array([[0.5], [0.7], [0.5], [np.nan]])
    # ties -> lower index: r1 (0.7), then r0 before r2; NaN (no pixels) never picked
    np.testing.assert_array_equal(oreal_select(scores, [4]), [1, 0, 2])
    with pytest.raises(ValueError, match="C=1"):
        oreal_select(scores, [1, 1])
    with pytest.raises(ValueError, match="eligible"):
        oreal_select(scores, [1], np.ones(4))


def _weak_scores() -> np.ndarray:
    return np.array(
        [
            [0.9, 0.0],  # r0
            [0.8, 0.1],  # r1
            [0.1, 0.9],  # r2
            [0.0, 0.8],  # r3
            [0.7, 0.7],  # r4
            [0.2, 0.6],  # r5
        ]
    )


def test_oreal_select_weak_round_robin_and_overshoot() -> None:
    costs = np.array([2, 3, 1, 1, 1, 1])
    # counts [0, 0], budget 4 -> delta = ItemsPerClass([0,0], 4) = [2, 2]
    # class lists: class 0 -> [r0, r1], class 1 -> [r2, r3]
    # round robin: r0, r2, r1, r3; costs 2, 1, 3, 1 -> cumulative 2, 3, 6 > 4: r1 crosses the
    # budget and is kept, then stop (r3 not taken)
    out = oreal_select_weak(_weak_scores(), None, costs, 4, [0, 0])
    np.testing.assert_array_equal(out, [0, 2, 1])
    assert costs[out].sum() == 6


def test_oreal_select_weak_uses_counts_and_stops_when_lists_end() -> None:
    costs = np.array([2, 3, 1, 1, 1, 1])
    # counts [5, 0], budget 3 -> delta [0, 3]: only class 1 gets items: r2, r3, r4
    # cumulative 1, 2, 3 <= 3 and the list is exhausted -> [2, 3, 4], no overshoot
    np.testing.assert_array_equal(
        oreal_select_weak(_weak_scores(), None, costs, 3, [5, 0]), [2, 3, 4]
    )
    # background 0 forces n_0 = 0: delta = ItemsPerClass([0, 0], 3) = [2, 1]
    # class 0 -> [r0, r1]; class 1 -> [r2]; round robin r0, r2, r1: cumulative 2, 3, 6 -> all
    np.testing.assert_array_equal(
        oreal_select_weak(_weak_scores(), None, costs, 3, [5, 0], background=0), [0, 2, 1]
    )
    # eligibility + dedup: r0 ineligible; class 0 -> [r1, r4], class 1 -> [r2, r3]
    # round robin r1, r2, r4, r3; costs 3, 1, 1, 1 -> cumulative 3, 4, 5 > 4 -> [1, 2, 4]
    eligible = np.array([False, True, True, True, True, True])
    np.testing.assert_array_equal(
        oreal_select_weak(_weak_scores(), eligible, costs, 4, [0, 0]), [1, 2, 4]
    )
    # budget 0 selects nothing
    assert oreal_select_weak(_weak_scores(), None, costs, 0, [0, 0]).size == 0
