"""Hand-checked tests for alseg.losses (MulActSeg Stage-1 losses, ALGORITHMS.md 4.1)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alseg.losses import (
    candidate_mask_from_regions,
    merged_positive_loss,
    mulactseg_loss,
    prototypical_pixel_loss,
)

LN2, LN3 = math.log(2.0), math.log(3.0)


def _pixels(*logit_rows: list[float]) -> torch.Tensor:
    """Logits (1, C, 1, n) from n per-pixel logit vectors."""
    return torch.tensor(logit_rows, dtype=torch.float64).T[None, :, None, :]


def _mask(*sets: set[int], c: int) -> torch.Tensor:
    """Candidate mask (1, C, 1, n) from n per-pixel candidate sets."""
    m = torch.zeros(1, c, 1, len(sets), dtype=torch.bool)
    for i, s in enumerate(sets):
        m[0, list(s), 0, i] = True
    return m


def test_singleton_set_is_cross_entropy_by_hand() -> None:
    # z = [0, ln 3] -> p = [1/4, 3/4]; Y = {1}: l = -ln(3/4); ce = l / (1 + 1)
    out = merged_positive_loss(_pixels([0.0, LN3]), _mask({1}, c=2))
    assert out["ce"].item() == pytest.approx(-math.log(0.75) / 2)
    assert out["mc"].item() == 0.0  # no multi-class pixel: 0 / (0 + 1)


def test_singleton_sets_match_torch_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 3, 5), generator=g)
    cand = F.one_hot(target, 4).permute(0, 3, 1, 2).bool()
    out = merged_positive_loss(logits, cand)
    # 30 labelled pixels -> denominator 31
    expected = F.cross_entropy(logits, target, reduction="sum") / 31
    assert out["ce"].item() == pytest.approx(expected.item(), rel=1e-12)


def test_two_class_sets_by_hand() -> None:
    # z = [0, 0, ln 2] -> p = [1/4, 1/4, 1/2] at both pixels.
    # pixel A, Y = {0, 1}: -ln(1/4 + 1/4) = ln 2
    # pixel B, Y = {0, 2}: -ln(1/4 + 1/2) = ln(4/3)
    # pixel C, Y = {2}:    -ln(1/2) = ln 2 (single-class -> ce)
    z = [0.0, 0.0, LN2]
    out = merged_positive_loss(_pixels(z, z, z), _mask({0, 1}, {0, 2}, {2}, c=3))
    assert out["mc"].item() == pytest.approx((LN2 + math.log(4 / 3)) / (2 + 1))
    assert out["ce"].item() == pytest.approx(LN2 / (1 + 1))


def test_denominators_count_over_the_batch_and_skip_unlabelled() -> None:
    # every pixel: z = [0, 0] -> p = [1/2, 1/2]; singleton loss ln 2, the set {0, 1} loss 0.
    logits = torch.zeros(2, 2, 1, 3, dtype=torch.float64)
    cand = torch.zeros(2, 2, 1, 3, dtype=torch.bool)
    cand[0, 0, 0, 0] = cand[0, 1, 0, 1] = cand[1, 0, 0, 2] = True  # 3 singleton pixels
    cand[1, :, 0, 0] = True  # 1 two-class pixel; 2 pixels have no candidate
    out = merged_positive_loss(logits, cand)
    assert out["ce"].item() == pytest.approx(3 * LN2 / (3 + 1))
    assert out["mc"].item() == pytest.approx(0.0, abs=1e-15)


def test_unlabelled_pixels_give_finite_zero_gradient() -> None:
    logits = torch.tensor([[[[5.0, -3.0]], [[-2.0, 4.0]]]], requires_grad=True)  # (1,2,1,2)
    cand = _mask({0}, set(), c=2)
    out = merged_positive_loss(logits, cand)
    (out["ce"] + out["mc"]).backward()
    assert torch.isfinite(logits.grad).all()
    assert torch.equal(logits.grad[0, :, 0, 1], torch.zeros(2))  # the unlabelled pixel


def test_candidate_mask_from_regions_by_hand() -> None:
    regions = torch.tensor([[[0, 1], [-1, 1]]])  # (1, 2, 2)
    region_classes = torch.tensor([[[True, False, True], [False, True, False]]])  # (1, 2, 3)
    cand = candidate_mask_from_regions(regions, region_classes)
    assert cand.shape == (1, 3, 2, 2)
    expected = torch.tensor(
        [
            [[True, False], [False, False]],  # class 0: only region 0
            [[False, True], [False, True]],  # class 1: region 1
            [[True, False], [False, False]],  # class 2: region 0
        ]
    )
    assert torch.equal(cand[0], expected)


def test_prototypical_pixel_loss_by_hand_1x2x2x2() -> None:
    # C = 2, z = [0, d] so p_1 = sigmoid(d). Left column = region 0 with Y = {0, 1}:
    #   (0,0) d = ln 3 -> p = [1/4, 3/4];  (1,0) d = -ln 3 -> p = [3/4, 1/4]
    #   max p_0 = 3/4, max p_1 = 3/4 -> 2 pairs, sum = 2 ln(4/3), mean = 2 ln(4/3) / (2 + 1)
    # Right column = region 1 with Y = {1}: single-class, not counted.
    # Region 2 has Y = {0, 1} but no pixel in the crop: not counted.
    d = torch.tensor([[LN3, 0.0], [-LN3, 2.0]], dtype=torch.float64)
    logits = torch.stack([torch.zeros_like(d), d])[None]  # (1, 2, 2, 2)
    regions = torch.tensor([[[0, 1], [0, 1]]])
    region_classes = torch.tensor([[[True, True], [False, True], [True, True]]])
    loss = prototypical_pixel_loss(logits, regions, region_classes)
    assert loss.item() == pytest.approx(2 * math.log(4 / 3) / 3)


def test_prototypical_pixel_loss_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(1)
    b, c, h, w, r = 2, 4, 5, 6, 5
    logits = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    regions = torch.randint(-1, r - 1, (b, h, w), generator=g)  # region r-1 never present
    region_classes = torch.rand(b, r, c, generator=g) < 0.5
    p = logits.softmax(dim=1)
    total, n = 0.0, 0
    for i in range(b):
        for k in range(r):
            inside = regions[i] == k
            if region_classes[i, k].sum() < 2 or not inside.any():
                continue
            for cls in region_classes[i, k].nonzero().flatten().tolist():
                total += -math.log(p[i, cls][inside].max().item())
                n += 1
    got = prototypical_pixel_loss(logits, regions, region_classes)
    assert n > 0
    assert got.item() == pytest.approx(total / (n + 1), rel=1e-10)


def test_mulactseg_loss_weights() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    regions = torch.randint(-1, 3, (2, 4, 4), generator=g)
    region_classes = torch.tensor(
        [
            [[True, False, False], [True, True, False], [False, True, True]],
            [[False, False, True], [True, True, True], [False, False, False]],
        ]
    )
    total, parts = mulactseg_loss(logits, regions, region_classes)
    assert set(parts) == {"ce", "mc", "pp"}
    assert total.item() == pytest.approx((16 * parts["ce"] + 8 * parts["mc"] + parts["pp"]).item())
    no_pp, _ = mulactseg_loss(logits, regions, region_classes, w_pp=0.0)
    assert no_pp.item() == pytest.approx((16 * parts["ce"] + 8 * parts["mc"]).item())
    assert parts["pp"].item() > 0 and parts["mc"].item() > 0 and parts["ce"].item() > 0


def test_guards() -> None:
    logits = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="candidate_mask"):
        merged_positive_loss(logits, torch.zeros(1, 2, 2, 2))  # float, not bool
    with pytest.raises(ValueError, match="region ids"):
        prototypical_pixel_loss(
            logits, torch.full((1, 2, 2), 3), torch.zeros(1, 2, 2, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="C = 2"):
        mulactseg_loss(logits, torch.zeros(1, 2, 2, dtype=torch.long), torch.ones(1, 1, 3) > 0)
