"""Hand-checked tests for MulActSeg boundary trimming and the undefined channel (ALGORITHMS 2.2)."""

from __future__ import annotations

import numpy as np
import pytest

from alseg.oracle import (
    click_costs,
    multiclass_labels_with_undefined,
    region_class_counts,
    region_class_counts_trimmed,
    trim_mask,
)

C, VOID = 3, 9
RM = np.array(
    [
        [0, 0, 0, 0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1, 2, 2],
    ],
    dtype=np.int32,
)
GT = np.array(
    [
        [0, 0, 0, 2, 1, 1, 1, 1],
        [0, 0, 0, 2, 1, 1, 9, 1],
        [0, 0, 0, 2, 1, 1, 1, 1],
        [0, 0, 0, 2, 1, 1, 2, 9],
    ]
)
# thick boundary (a 4-neighbour has another id, both sides of every edge):
#   cols 3 and 4 on every row (0 | 1), (2, 6) and (2, 7) above region 2, (3, 5) left of it,
#   and region 2 itself ((3, 6) touches 1 on the left and above, (3, 7) above).
BAND = np.array(
    [
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 1, 1],
        [0, 0, 0, 1, 1, 1, 1, 1],
    ],
    dtype=bool,
)
# 3x3 dilation: cols 2..5 everywhere, plus rows 1..3 of cols 4..7 -> kept: cols 0, 1 and (0, 6..7)
KEEP3 = np.array(
    [
        [1, 1, 0, 0, 0, 0, 1, 1],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
    ],
    dtype=bool,
)


def test_trim_mask_kernel_1_is_the_thick_boundary() -> None:
    np.testing.assert_array_equal(trim_mask(RM, kernel=1), ~BAND)


def test_trim_mask_kernel_3_and_5_by_hand() -> None:
    np.testing.assert_array_equal(trim_mask(RM, kernel=3), KEEP3)
    # 5x5 (radius 2) from the column band 3..4 reaches cols 1..6; from (2, 6) it reaches col 7
    keep5 = np.zeros_like(BAND)
    keep5[:, 0] = True
    np.testing.assert_array_equal(trim_mask(RM), keep5)


def test_trim_mask_uniform_map_keeps_everything() -> None:
    # the image border is not a boundary
    assert trim_mask(np.zeros((3, 4), dtype=np.int64)).all()


def test_region_class_counts_trimmed_by_hand() -> None:
    # columns: class 0, 1, 2, void
    # k = 3: region 0 keeps cols 0-1 -> 8 x class 0 (the class-2 sliver in col 3 is trimmed);
    #        region 1 keeps (0, 6), (0, 7) -> 2 x class 1 (the void at (1, 6) is trimmed);
    #        region 2 loses both pixels -> untrimmed counts: (3, 6) = 2, (3, 7) = void.
    got3 = region_class_counts_trimmed(GT, RM, 3, C, VOID, kernel=3)
    np.testing.assert_array_equal(got3, [[8, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1]])
    # k = 5: only col 0 is kept -> region 0: 4 x class 0; regions 1 and 2 fall back entirely.
    got5 = region_class_counts_trimmed(GT, RM, 3, C, VOID)
    full = region_class_counts(GT, RM, 3, C, VOID)
    np.testing.assert_array_equal(full[1], [0, 13, 0, 1])
    np.testing.assert_array_equal(got5, [[4, 0, 0, 0], full[1], full[2]])
    assert got5.dtype == np.int64


def test_multiclass_labels_with_undefined_channel() -> None:
    counts = np.array([[8, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 3], [0, 0, 0, 0]])
    got = multiclass_labels_with_undefined(counts)
    expected = np.array(
        [
            [1, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 1, 1],  # class 2 + undefined (a void pixel)
            [0, 0, 0, 1],  # all void: only undefined
            [0, 0, 0, 0],  # empty region
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(got, expected)
    # Cityscapes-style cost counts the undefined click: 1, 1, 2, 1, 0
    assert click_costs("multiclass", np.zeros(len(got)), got).tolist() == [1, 1, 2, 1, 0]


def test_trimming_guards() -> None:
    with pytest.raises(ValueError, match="odd"):
        trim_mask(RM, kernel=4)
    with pytest.raises(ValueError, match="odd int"):
        trim_mask(RM, kernel=0)
    with pytest.raises(ValueError, match="integer"):
        trim_mask(RM.astype(float))
    with pytest.raises(ValueError, match="counts"):
        multiclass_labels_with_undefined(np.zeros((2, 1), dtype=np.int64))
