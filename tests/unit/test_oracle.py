"""Hand-checked tests for alseg.oracle on a 3x4 image, C = 3 classes, void = 11."""

from __future__ import annotations

import numpy as np
import pytest

from alseg import IGNORE
from alseg.oracle import (
    LABEL_TYPES,
    click_costs,
    dominant_labels,
    multiclass_labels,
    pixel_labels,
    region_class_counts,
    render_full_regions,
    render_region_classes,
)

C, VOID, N_REGIONS = 3, 11, 4
GT = np.array(
    [
        [0, 0, 1, 2],
        [0, 11, 1, 11],
        [11, 0, 2, 1],
    ]
)
RM = np.array(
    [
        [0, 0, 1, 1],
        [0, 0, 1, 2],
        [2, 2, 1, -1],  # pixel (2, 3) belongs to no region; region 3 has no pixel
    ]
)
# columns: class 0, class 1, class 2, void
COUNTS = np.array(
    [
        [3, 0, 0, 1],  # region 0: (0,0)=0 (0,1)=0 (1,0)=0 (1,1)=void
        [0, 2, 2, 0],  # region 1: (0,2)=1 (0,3)=2 (1,2)=1 (2,2)=2 -> tie 1 vs 2
        [1, 0, 0, 2],  # region 2: (1,3)=void (2,0)=void (2,1)=0 -> void-dominant
        [0, 0, 0, 0],  # region 3: empty
    ]
)


def test_label_types() -> None:
    assert LABEL_TYPES == ("dominant", "multiclass", "pixel", "full")


def test_region_class_counts_by_hand() -> None:
    counts = region_class_counts(GT, RM, N_REGIONS, C, VOID)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, COUNTS)
    assert counts.sum() == 11  # 12 pixels minus the one with region -1


def test_region_class_counts_rejects_bad_input() -> None:
    bad_gt = GT.copy()
    bad_gt[0, 0] = 5  # not a class (0..2) and not void (11)
    with pytest.raises(ValueError, match="gt values"):
        region_class_counts(bad_gt, RM, N_REGIONS, C, VOID)
    with pytest.raises(ValueError, match="n_regions"):
        region_class_counts(GT, RM, 2, C, VOID)
    with pytest.raises(ValueError, match="same shape"):
        region_class_counts(GT[:2], RM, N_REGIONS, C, VOID)


def test_dominant_labels_tie_void_and_empty() -> None:
    # region 0 -> 0; region 1 tie 1/2 -> lowest id 1; region 2 void wins -> -1; empty -> -1
    lab = dominant_labels(COUNTS)
    assert lab.dtype == np.int16
    np.testing.assert_array_equal(lab, [0, 1, -1, -1])
    # a class tied with void: class column comes first -> class wins
    np.testing.assert_array_equal(dominant_labels(np.array([[2, 0, 0, 2]])), [0])
    np.testing.assert_array_equal(click_costs("dominant", COUNTS.sum(1)), [1, 1, 1, 1])


def test_multiclass_labels_and_cost() -> None:
    mh = multiclass_labels(COUNTS)
    assert mh.dtype == bool and mh.shape == (N_REGIONS, C)
    expected = np.array(
        [
            [True, False, False],  # {0}; void not a class
            [False, True, True],  # {1, 2}
            [True, False, False],  # {0}
            [False, False, False],  # empty
        ]
    )
    np.testing.assert_array_equal(mh, expected)
    cost = click_costs("multiclass", COUNTS.sum(1), mh)
    assert cost.dtype == np.int32
    np.testing.assert_array_equal(cost, [1, 2, 1, 0])


def test_full_cost_counts_void_pixels() -> None:
    # 3 + 1 void, 2 + 2, 1 + 2 void, 0
    np.testing.assert_array_equal(click_costs("full", COUNTS.sum(1)), [4, 4, 3, 0])
    with pytest.raises(ValueError, match="multihot"):
        click_costs("multiclass", COUNTS.sum(1))


def test_pixel_labels_with_void() -> None:
    ys, xs = np.array([0, 1, 2]), np.array([3, 1, 3])
    lab = pixel_labels(GT, ys, xs, VOID)  # GT[0,3]=2, GT[1,1]=void, GT[2,3]=1
    assert lab.dtype == np.int16
    np.testing.assert_array_equal(lab, [2, -1, 1])
    with pytest.raises(ValueError, match="coordinates"):
        pixel_labels(GT, np.array([3]), np.array([0]), VOID)


def test_render_region_classes() -> None:
    out = render_region_classes(RM, np.array([0, 1, 2]), np.array([0, 1, -1]))
    assert out.dtype == np.uint8 and out.shape == RM.shape
    n = IGNORE
    expected = np.array(
        [
            [0, 0, 1, 1],
            [0, 0, 1, n],  # region 2 has class -1 -> 255
            [n, n, 1, n],  # region -1 -> 255
        ]
    )
    np.testing.assert_array_equal(out, expected)
    # a region not listed stays 255
    only1 = render_region_classes(RM, np.array([1]), np.array([2]))
    np.testing.assert_array_equal(only1, np.where(RM == 1, 2, n))
    with pytest.raises(ValueError, match="unique"):
        render_region_classes(RM, np.array([1, 1]), np.array([0, 1]))


def test_render_full_regions() -> None:
    out = render_full_regions(RM, np.array([1, 2]), GT, VOID)
    assert out.dtype == np.uint8
    n = IGNORE
    expected = np.array(
        [
            [n, n, 1, 2],  # region 1 copies GT
            [n, n, 1, n],  # (1,3) region 2 but void -> 255
            [n, 0, 2, n],  # (2,0) void -> 255; (2,1)=0; (2,3) region -1
        ]
    )
    np.testing.assert_array_equal(out, expected)
