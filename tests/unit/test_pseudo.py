"""Hand-checked tests for alseg.pseudo (MulActSeg Stage-2 pseudo-labels, ALGORITHMS.md 4.2).

Most cases are 1-row strips with 2-D unit features, so every similarity is a dot product of
two short vectors that can be checked by eye.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg import IGNORE
from alseg.pseudo import (
    expand_labels,
    localize_in_regions,
    prepare_features,
    prototype_thresholds,
    pseudo_label_image,
    region_adjacency_dilated,
    region_prototypes,
)

X = 255  # IGNORE, short for the expected maps


def _strip(*vectors: tuple[float, float]) -> torch.Tensor:
    """Features (2, 1, n) of a 1 x n strip from n 2-D vectors."""
    return torch.tensor(vectors, dtype=torch.float64).T[:, None, :]


def _rm(*ids: int) -> torch.Tensor:
    return torch.tensor([ids], dtype=torch.int32)


def test_ignore_constant() -> None:
    assert X == IGNORE


def test_region_prototypes_pick_argmax_pixel() -> None:
    # one region of 3 pixels, Y = {0, 1}; p_0 = [0.2, 0.9, 0.5] -> x* = pixel 1,
    # p_1 = [0.8, 0.1, 0.5] -> x* = pixel 0. Class 2 is not in Y -> invalid, zero vector.
    feats = _strip((1.0, 0.0), (0.0, 1.0), (0.6, 0.8))
    p0 = torch.tensor([0.2, 0.9, 0.5], dtype=torch.float64)
    probs = torch.stack([p0, 1 - p0, torch.zeros(3, dtype=torch.float64)])[:, None, :]
    protos, valid = region_prototypes(feats, probs, _rm(0, 0, 0), torch.tensor([[1, 1, 0]]) > 0)
    assert torch.equal(valid, torch.tensor([[True, True, False]]))
    assert protos[0, 0].tolist() == [0.0, 1.0]  # f(pixel 1)
    assert protos[0, 1].tolist() == [1.0, 0.0]  # f(pixel 0)
    assert protos[0, 2].tolist() == [0.0, 0.0]


def test_region_prototypes_tie_takes_first_pixel_and_regions_are_separate() -> None:
    # regions [0, 1, 0, 1]; p_0 = [0.5, 0.9, 0.5, 0.1]: region 0 ties (pixels 0 and 2) -> 0;
    # region 1 -> pixel 1. Region 2 has a label but no pixel -> invalid.
    feats = _strip((1.0, 0.0), (0.0, 1.0), (0.6, 0.8), (0.8, 0.6))
    p0 = torch.tensor([0.5, 0.9, 0.5, 0.1], dtype=torch.float64)
    probs = torch.stack([p0, 1 - p0])[:, None, :]
    rc = torch.tensor([[1, 0], [1, 0], [1, 1]]) > 0
    protos, valid = region_prototypes(feats, probs, _rm(0, 1, 0, 1), rc)
    assert protos[0, 0].tolist() == [1.0, 0.0]
    assert protos[1, 0].tolist() == [0.0, 1.0]
    assert valid.tolist() == [[True, False], [True, False], [False, False]]


def test_localize_in_regions_by_hand() -> None:
    # region 0 = pixels 0..2 with mu_0 = (0, 1), mu_1 = (1, 0); pixel 3 is region 1 (no label).
    # pixel 0 (1, 0):     sims (0, 1)     -> class 1, s = 1
    # pixel 1 (0, 1):     sims (1, 0)     -> class 0, s = 1
    # pixel 2 (0.6, 0.8): sims (0.8, 0.6) -> class 0, s = 0.8
    feats = _strip((1.0, 0.0), (0.0, 1.0), (0.6, 0.8), (0.0, 1.0))
    protos = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    valid = torch.tensor([[True, True], [False, False]])
    labels, sim = localize_in_regions(feats, protos, valid, _rm(0, 0, 0, 1))
    assert labels.tolist() == [[1, 0, 0, -1]]
    assert sim[0, :3].tolist() == pytest.approx([1.0, 1.0, 0.8])
    assert sim[0, 3].item() == float("-inf")


def test_prototype_thresholds_median_min_and_unchosen_class() -> None:
    # region 0 (pixels 0..3): class 0 chosen with s = 0.9, 0.5, 0.7 -> sorted 0.5, 0.7, 0.9:
    #   median 0.7, min 0.5; class 1 chosen once with 0.3; class 2 in Y_0 but never chosen -> 1.
    # region 1 (pixels 4..7): class 2 with s = 0.8, 0.4, 0.6, 0.2 -> sorted 0.2 0.4 0.6 0.8:
    #   lower median (torch.median) 0.4, min 0.2.
    rm = _rm(0, 0, 0, 0, 1, 1, 1, 1)
    labels = torch.tensor([[0, 0, 0, 1, 2, 2, 2, 2]])
    sim = torch.tensor([[0.9, 0.5, 0.7, 0.3, 0.8, 0.4, 0.6, 0.2]], dtype=torch.float64)
    valid = torch.tensor([[True, True, True], [False, False, True]])
    med = prototype_thresholds(labels, sim, rm, valid, "median")
    assert med.flatten().tolist() == pytest.approx([0.7, 0.3, 1.0, 1.0, 1.0, 0.4])
    assert med[1, 2] == torch.median(sim[0, 4:])
    low = prototype_thresholds(labels, sim, rm, valid, "min")
    assert low.flatten().tolist() == pytest.approx([0.5, 0.3, 1.0, 1.0, 1.0, 0.2])


def test_region_adjacency_dilated_by_hand() -> None:
    rm = torch.tensor([[0, 0, 1, 4], [0, 0, 1, 4], [2, 2, 3, 4]])
    # 0-3 touch only diagonally ((1,1)-(2,2)), so do 1-2 ((1,2)-(2,1)); 4 touches 1 and 3 only.
    adj = region_adjacency_dilated(rm)
    expected = [
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 1, 0, 1, 1],
    ]
    assert adj.int().tolist() == expected
    assert region_adjacency_dilated(rm, n_regions=6)[5].sum() == 0  # region without pixels


def _dilate3(mask: np.ndarray) -> np.ndarray:
    pad = np.pad(mask, 1)
    h, w = mask.shape
    return np.any([pad[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def test_region_adjacency_matches_per_region_dilation() -> None:
    rng = np.random.default_rng(0)
    rm = rng.integers(0, 7, (6, 8))
    adj = region_adjacency_dilated(torch.from_numpy(rm), n_regions=7).numpy()
    for r in range(7):
        touched = np.zeros(7, dtype=bool)
        touched[np.unique(rm[_dilate3(rm == r)])] = True
        np.testing.assert_array_equal(adj[r], touched & (rm == r).any())


def _one_hot_probs(*classes: int, c: int = 2) -> torch.Tensor:
    """probs (C, 1, n) that prefer the listed class per pixel (0.9 vs the rest)."""
    p = torch.full((c, len(classes)), 0.1 / (c - 1), dtype=torch.float64)
    p[list(classes), range(len(classes))] = 0.9
    return p[:, None, :]


def test_expansion_into_unlabelled_neighbour_by_hand() -> None:
    # regions [0, 0, 1, 1, 2, 2]; Y_0 = {0}, region 1 unlabelled, Y_2 = {1}.
    # region 0: p_0 highest at pixel 0 -> mu_00 = (1, 0); s = [1, 0.8] -> theta_00 = 0.8
    # region 2: p_1 highest at pixel 4 -> mu_21 = (0, 1); s = [1, 0.96] -> theta_21 = 0.96
    # N(0) = {0, 1}, N(2) = {1, 2}. Region 1 pixels:
    #   pixel 2 (0.6, 0.8):   <., mu_00> = 0.6 <= 0.8, <., mu_21> = 0.8 <= 0.96 -> stays 255
    #   pixel 3 (0.96, 0.28): <., mu_00> = 0.96 > 0.8 -> 0; <., mu_21> = 0.28 -> no claim
    feats = _strip((1.0, 0.0), (0.8, 0.6), (0.6, 0.8), (0.96, 0.28), (0.0, 1.0), (0.28, 0.96))
    probs = torch.tensor([[0.9, 0.8, 0.5, 0.5, 0.1, 0.2]], dtype=torch.float64)
    probs = torch.cat([probs, 1 - probs])[:, None, :]
    rc = torch.tensor([[1, 0], [0, 0], [0, 1]]) > 0
    out = pseudo_label_image(feats, probs, _rm(0, 0, 1, 1, 2, 2), rc)
    assert out.dtype == torch.uint8
    assert out.tolist() == [[0, 0, X, 0, 1, 1]]
    no_expand = pseudo_label_image(feats, probs, _rm(0, 0, 1, 1, 2, 2), rc, expand=False)
    assert no_expand.tolist() == [[0, 0, X, X, 1, 1]]


def test_overlap_higher_region_id_wins() -> None:
    # regions [0, 1, 2], one pixel each; Y_0 = {0} with mu = (1, 0), Y_2 = {1} with mu = (0, 1),
    # both thresholds 0.5. Pixel 1 = (0.8, 0.6): region 0 claims it with class 0 (0.8 > 0.5),
    # region 2 with class 1 (0.6 > 0.5). Region 2 comes later -> 1, although 0.8 > 0.6.
    feats = _strip((1.0, 0.0), (0.8, 0.6), (0.0, 1.0))
    protos = torch.zeros(3, 2, 2, dtype=torch.float64)
    protos[0, 0] = torch.tensor([1.0, 0.0])
    protos[2, 1] = torch.tensor([0.0, 1.0])
    valid = torch.tensor([[True, False], [False, False], [False, True]])
    theta = torch.full((3, 2), 0.5, dtype=torch.float64)
    rm = _rm(0, 1, 2)
    local = torch.tensor([[0, -1, 1]])
    assert expand_labels(feats, protos, valid, theta, rm, local).tolist() == [[0, 1, 1]]
    # raise region 2's threshold above 0.6: only region 0 claims pixel 1 now
    theta[2, 1] = 0.7
    assert expand_labels(feats, protos, valid, theta, rm, local).tolist() == [[0, 0, 1]]


def test_labelled_neighbours_keep_their_localisation_labels() -> None:
    # regions [0, 1], both labelled: Y_0 = {0}, mu_00 = (1, 0); Y_1 = {1}, mu_11 = (0.6, 0.8).
    # thresholds 0.1: region 0 claims pixel 1 (0.6), region 1 claims pixel 0 (0.6) and, being
    # later, wins there; step 5 puts back each region's own localisation label.
    feats = _strip((1.0, 0.0), (0.6, 0.8))
    protos = torch.zeros(2, 2, 2, dtype=torch.float64)
    protos[0, 0] = torch.tensor([1.0, 0.0])
    protos[1, 1] = torch.tensor([0.6, 0.8])
    valid = torch.tensor([[True, False], [False, True]])
    theta = torch.full((2, 2), 0.1, dtype=torch.float64)
    out = expand_labels(feats, protos, valid, theta, _rm(0, 1), torch.tensor([[0, 1]]))
    assert out.tolist() == [[0, 1]]


def test_all_void_region_gets_no_prototype_and_no_label() -> None:
    # regions [0, 0, 1, 1]; Y_0 = {0}; region 1 was queried but all its pixels are void, so
    # Y_1 is empty: no prototype. Region 0 (mu = (1, 0), s = [1, 0.8], theta 0.8) would
    # expand into pixel 2 (0.9 > 0.8); marked labelled, region 1 stays 255.
    feats = _strip((1.0, 0.0), (0.8, 0.6), (0.9, 0.43589), (0.0, 1.0))
    probs = _one_hot_probs(0, 1, 0, 0)
    rc = torch.tensor([[1, 0], [0, 0]]) > 0
    protos, valid = region_prototypes(feats, probs, _rm(0, 0, 1, 1), rc)
    assert not valid[1].any()
    labelled = torch.tensor([True, True])
    out = pseudo_label_image(feats, probs, _rm(0, 0, 1, 1), rc, labelled=labelled)
    assert out.tolist() == [[0, 0, X, X]]
    # without the flag region 1 is just unlabelled and receives the expansion
    assert pseudo_label_image(feats, probs, _rm(0, 0, 1, 1), rc).tolist() == [[0, 0, 0, X]]


def test_multiclass_region_with_unchosen_class_threshold_one() -> None:
    # one region of 3 pixels, Y = {0, 1}; p_0 = [0.9, 0.1, 0.8] and p_1 = [0.95, 0.05, 0.1]
    # both peak at pixel 0 -> mu_0 = mu_1 = (1, 0). Every pixel ties -> lowest class 0;
    # s = [1, 0.8, 0.6] -> theta_0 = median = 0.8; class 1 is never chosen -> theta_1 = 1.0.
    feats = _strip((1.0, 0.0), (0.8, 0.6), (0.6, 0.8))
    probs = torch.tensor([[0.9, 0.1, 0.8], [0.95, 0.05, 0.1]], dtype=torch.float64)[:, None, :]
    rc = torch.tensor([[True, True]])
    protos, valid = region_prototypes(feats, probs, _rm(0, 0, 0), rc)
    local, sim = localize_in_regions(feats, protos, valid, _rm(0, 0, 0))
    assert local.tolist() == [[0, 0, 0]]
    assert sim[0].tolist() == pytest.approx([1.0, 0.8, 0.6])
    theta = prototype_thresholds(local, sim, _rm(0, 0, 0), valid)
    assert theta[0].tolist() == pytest.approx([0.8, 1.0])


def _reference(
    feats: torch.Tensor, probs: torch.Tensor, rm: np.ndarray, rc: torch.Tensor
) -> np.ndarray:
    """Loop implementation of ALGORITHMS.md 4.2 (median), following the original code."""
    d = feats.shape[0]
    f = feats.reshape(d, -1)
    p = probs.reshape(probs.shape[0], -1)
    flat = rm.reshape(-1)
    out = np.full(flat.shape, IGNORE, dtype=np.int64)
    info = {}
    for r in range(rc.shape[0]):
        pix = np.nonzero(flat == r)[0]
        cls = rc[r].nonzero().flatten().tolist()
        if not cls or pix.size == 0:
            continue
        mu = torch.stack([f[:, pix[int(torch.argmax(p[c, pix]))]] for c in cls])  # (K, D)
        s = mu @ f[:, pix]
        k = s.argmax(dim=0)
        smax = s.max(dim=0).values
        theta = torch.tensor(
            [torch.median(smax[k == j]).item() if (k == j).any() else 1.0 for j in range(len(cls))],
            dtype=f.dtype,
        )
        info[r] = (pix, cls, mu, theta, k)
    for r, (_pix, cls, mu, theta, _k) in info.items():
        nbr = np.unique(rm[_dilate3(rm == r)])
        px = np.nonzero(np.isin(flat, nbr))[0]
        s = mu @ f[:, px]
        ok = (s > theta[:, None]).any(dim=0).numpy()
        out[px[ok]] = np.array(cls)[s.argmax(dim=0).numpy()][ok]
    for pix, cls, _mu, _theta, k in info.values():
        out[pix] = np.array(cls)[k.numpy()]
    return out.reshape(rm.shape)


def test_pseudo_label_image_matches_loop_reference() -> None:
    rng = np.random.default_rng(3)
    g = torch.Generator().manual_seed(3)
    h, w, c, d = 12, 15, 3, 4
    # 4 x 5 grid of 3 x 3 blocks, ids shuffled so that id order differs from scan order
    blocks = rng.permutation(20).reshape(4, 5)
    rm = np.kron(blocks, np.ones((3, 3), dtype=np.int64))
    feats = torch.randn(d, h, w, generator=g, dtype=torch.float64)
    feats = torch.nn.functional.normalize(feats, dim=0)
    probs = torch.randn(c, h, w, generator=g, dtype=torch.float64).softmax(dim=0)
    rc = torch.from_numpy(rng.random((20, c)) < 0.35)
    rc[::3] = False  # some unlabelled regions
    got = pseudo_label_image(feats, probs, torch.from_numpy(rm), rc)
    expected = _reference(feats, probs, rm, rc)
    np.testing.assert_array_equal(got.numpy(), expected)
    assert (expected != IGNORE).sum() > (np.isin(rm, np.nonzero(rc.any(1).numpy())[0])).sum()


def test_prepare_features_normalises_then_upsamples() -> None:
    f = torch.tensor([[[3.0, 0.0]], [[4.0, 2.0]]])  # (2, 1, 2): unit vectors (0.6, 0.8), (0, 1)
    up = prepare_features(f, (1, 4))
    assert up.shape == (2, 1, 4)
    # bilinear, align_corners=False: x = 0.25 * 2 - 0.5 -> outer pixels copy, inner blend 3:1
    assert up[:, 0, 0].tolist() == pytest.approx([0.6, 0.8])
    assert up[:, 0, 1].tolist() == pytest.approx([0.75 * 0.6, 0.75 * 0.8 + 0.25])
    norms = torch.linalg.norm(prepare_features(f, (1, 4), renormalize=True), dim=0)
    assert norms.flatten().tolist() == pytest.approx([1.0] * 4)


def test_guards() -> None:
    feats = _strip((1.0, 0.0), (0.0, 1.0))
    probs = _one_hot_probs(0, 1)
    rc = torch.tensor([[True, False]])
    with pytest.raises(ValueError, match="threshold"):
        pseudo_label_image(feats, probs, _rm(0, 0), rc, threshold="mean")
    with pytest.raises(ValueError, match="region_map ids"):
        pseudo_label_image(feats, probs, _rm(0, 1), rc)
    with pytest.raises(ValueError, match="bool"):
        pseudo_label_image(feats, probs, _rm(0, 0), rc.int())
    with pytest.raises(ValueError, match="spatial size"):
        pseudo_label_image(feats[:, :, :1], probs, _rm(0, 0), rc)
