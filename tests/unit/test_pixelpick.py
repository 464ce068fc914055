"""Unit tests for alseg.acquisition.pixelpick (top-k uncertain, then uniform draw)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg.acquisition.pixelpick import (
    draw_per_image,
    pixels_per_image,
    top_uncertain,
)

# 2 x 3 map; (1, 1) = 0.95 is the most uncertain but excluded
U_2X3 = np.array([[0.9, 0.1, 0.8], [0.7, 0.95, 0.2]])
EX_2X3 = np.array([[False, False, False], [False, True, False]])


def test_top_uncertain_keeps_the_top_k_and_never_an_excluded_pixel() -> None:
    rng = np.random.default_rng(1)
    u = rng.random((8, 10))
    ex = rng.random((8, 10)) < 0.4
    ex[u > 0.9] = True  # the most uncertain pixels are excluded
    k = int(8 * 10 * 0.25)  # 20
    cand = np.flatnonzero(~ex.ravel())
    top_set = set(cand[np.argsort(-u.ravel()[cand])[:k]].tolist())
    idx, n_valid = top_uncertain(torch.tensor(u[None]), torch.tensor(ex[None]), 0.25)
    assert n_valid.tolist() == [k] and set(idx[0].tolist()) == top_set


def test_top_uncertain_rejects_nan_at_candidates() -> None:
    with pytest.raises(ValueError, match="NaN"):
        top_uncertain(torch.full((1, 2, 3), float("nan")), torch.tensor(EX_2X3[None]), 0.5)


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
