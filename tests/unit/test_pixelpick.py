"""Unit tests for alseg.acquisition.pixelpick (top-k uncertain, then uniform draw)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg.acquisition.pixelpick import (
    draw_per_image,
    pixelpick_sample,
    pixelpick_sample_batch,
    pixels_per_image,
    top_uncertain,
)

# 2 x 3 map; (1, 1) = 0.95 is the most uncertain but excluded
U_2X3 = np.array([[0.9, 0.1, 0.8], [0.7, 0.95, 0.2]])
EX_2X3 = np.array([[False, False, False], [False, True, False]])


def _pairs(ys: np.ndarray, xs: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(ys.tolist(), xs.tolist(), strict=True))


def test_top_k_by_hand_and_fewer_available() -> None:
    # k = int(2 * 3 * 0.5) = 3; non-excluded ranking: 0.9 (0,0), 0.8 (0,2), 0.7 (1,0)
    # n_pixels = 3 = k -> the whole top-3 set is drawn
    ys, xs = pixelpick_sample(U_2X3, EX_2X3, 0.5, 3, generator=np.random.default_rng(0))
    assert ys.dtype == np.int64 and xs.dtype == np.int64
    assert _pairs(ys, xs) == {(0, 0), (0, 2), (1, 0)}
    # n_pixels = 10 > k = 3 -> only 3 come back
    ys, xs = pixelpick_sample(U_2X3, EX_2X3, 0.5, 10, generator=np.random.default_rng(0))
    assert _pairs(ys, xs) == {(0, 0), (0, 2), (1, 0)}
    # top_fraction 1.0 -> k = min(6, 5 non-excluded) = 5: every pixel but the excluded one
    ys, xs = pixelpick_sample(U_2X3, EX_2X3, 1.0, 10, generator=np.random.default_rng(0))
    assert len(ys) == 5 and (1, 1) not in _pairs(ys, xs)


def test_samples_inside_top_k_and_never_excluded() -> None:
    rng = np.random.default_rng(1)
    u = rng.random((8, 10))
    ex = rng.random((8, 10)) < 0.4
    ex[u > 0.9] = True  # the most uncertain pixels are excluded
    k = int(8 * 10 * 0.25)  # 20
    cand = np.flatnonzero(~ex.ravel())
    top_set = set(cand[np.argsort(-u.ravel()[cand])[:k]].tolist())
    for seed in range(5):
        ys, xs = pixelpick_sample(u, ex, 0.25, 6, generator=np.random.default_rng(seed))
        assert len(ys) == 6 and len(_pairs(ys, xs)) == 6  # without replacement
        assert not ex[ys, xs].any()
        assert set((ys * 10 + xs).tolist()) <= top_set


def test_seeded_reproducibility() -> None:
    u = np.random.default_rng(2).random((6, 7))
    ex = np.zeros((6, 7), dtype=bool)
    a = pixelpick_sample(u, ex, 0.5, 5, generator=np.random.default_rng(42))
    b = pixelpick_sample(u, ex, 0.5, 5, generator=np.random.default_rng(42))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # the draw is random: over seeds, not always the same 5 of the 21 top pixels
    draws = {
        tuple(sorted(pixelpick_sample(u, ex, 0.5, 5, generator=np.random.default_rng(s))[0]))
        for s in range(10)
    }
    assert len(draws) > 1


def test_all_excluded_and_tiny_k_give_nothing() -> None:
    gen = np.random.default_rng(0)
    ys, xs = pixelpick_sample(U_2X3, np.ones((2, 3), dtype=bool), 0.5, 10, generator=gen)
    assert ys.size == 0 and xs.size == 0
    # k = int(6 * 0.1) = 0 (PixelPick's literal int()) -> nothing
    ys, _ = pixelpick_sample(U_2X3, EX_2X3, 0.1, 10, generator=gen)
    assert ys.size == 0


def test_batch_equals_per_image_calls() -> None:
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(3, 6, 8, generator=gen)
    ex = torch.rand(3, 6, 8, generator=gen) < 0.5
    ex[2] = True
    ex[2, 0, :3] = False  # image 2: only 3 pixels available, fewer than k and n_pixels
    batch = pixelpick_sample_batch(u, ex, 0.25, 5, generator=np.random.default_rng(7))
    ref_gen = np.random.default_rng(7)
    singles = [
        pixelpick_sample(u[i].numpy(), ex[i].numpy(), 0.25, 5, generator=ref_gen) for i in range(3)
    ]
    assert len(batch) == 3
    for (by, bx), (sy, sx) in zip(batch, singles, strict=True):
        np.testing.assert_array_equal(by, sy)
        np.testing.assert_array_equal(bx, sx)
    # k = int(48 * 0.25) = 12 >= 5 for images 0, 1; image 2 has 3 available pixels
    assert [len(b[0]) for b in batch] == [5, 5, 3]
    assert _pairs(*batch[2]) == {(0, 0), (0, 1), (0, 2)}
    for i, (ys, xs) in enumerate(batch):
        assert not ex[i].numpy()[ys, xs].any()


def test_guards() -> None:
    gen = np.random.default_rng(0)
    with pytest.raises(ValueError, match="top_fraction"):
        pixelpick_sample(U_2X3, EX_2X3, 0.0, 1, generator=gen)
    with pytest.raises(ValueError, match="excluded must be"):
        pixelpick_sample(U_2X3, EX_2X3.astype(int), 0.5, 1, generator=gen)
    with pytest.raises(ValueError, match="generator"):
        pixelpick_sample(U_2X3, EX_2X3, 0.5, 1, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        pixelpick_sample(np.full((2, 3), np.nan), EX_2X3, 0.5, 1, generator=gen)
    with pytest.raises(ValueError, match="excluded must be"):
        pixelpick_sample_batch(
            torch.rand(1, 2, 3), torch.zeros(1, 2, 2, dtype=torch.bool), generator=gen
        )


def test_top_uncertain_by_hand_with_sentinel() -> None:
    # image 0: k = int(6 * 0.5) = 3 of the non-excluded ids {0: .9, 2: .8, 3: .7, 1: .1, 5: .2}
    # image 1: only ids 4 and 5 are available, so one slot holds the sentinel H W = 6
    u = torch.tensor(np.stack([U_2X3, U_2X3]), dtype=torch.float32)
    ex = torch.tensor(np.stack([EX_2X3, [[True, True, True], [True, False, False]]]))
    idx, n_valid = top_uncertain(u, ex, 0.5)
    assert idx.tolist() == [[0, 2, 3], [4, 5, 6]]
    assert n_valid.tolist() == [3, 2]


def test_pixels_per_image_splits_the_budget() -> None:
    counts = pixels_per_image(7, 3, np.random.default_rng(0))
    assert counts.sum() == 7 and sorted(counts.tolist()) == [2, 2, 3]
    assert pixels_per_image(6, 3, np.random.default_rng(0)).tolist() == [2, 2, 2]
    assert pixels_per_image(2, 4, np.random.default_rng(0)).sum() == 2


def test_draw_per_image_takes_each_share_inside_its_image() -> None:
    image_index = np.array([0, 0, 0, 2, 5, 5])
    flat_ids = np.array([3, 7, 9, 1, 4, 8])
    counts = np.array([2, 0, 5, 0, 0, 1])  # image 2 asks 5 but has one candidate
    picked = draw_per_image(image_index, flat_ids, counts, np.random.default_rng(3))
    assert image_index[picked].tolist() == [0, 0, 2, 5]
    assert len(set(picked[:2].tolist())) == 2 and set(picked[:2].tolist()) <= {0, 1, 2}
    again = draw_per_image(image_index, flat_ids, counts, np.random.default_rng(3))
    np.testing.assert_array_equal(picked, again)
