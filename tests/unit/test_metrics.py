"""Hand-checked tests for alseg.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alseg.metrics import (
    ConfusionMatrix,
    al_curve_area,
    confusion_matrix,
    gini,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
)

# C = 3, ignore = 255. Kept (target, pred) pairs, row-major:
# (0,0) (0,1) (1,1) [255 dropped] (2,2) (2,0) (1,1) (0,0)
TARGET = np.array([[0, 0, 1, 255], [2, 2, 1, 0]])
PRED = np.array([[0, 1, 1, 2], [2, 0, 1, 0]])
CM = np.array(
    [
        [2, 1, 0],  # gt 0: pred 0 twice, pred 1 once
        [0, 2, 0],  # gt 1: pred 1 twice
        [1, 0, 1],  # gt 2: pred 0 once, pred 2 once
    ]
)


def test_confusion_matrix_tiny_with_ignore() -> None:
    cm = confusion_matrix(PRED, TARGET, num_classes=3, ignore_index=255)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, CM)
    assert cm.sum() == 7  # 8 pixels, 1 ignored


def test_confusion_matrix_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="target values"):
        confusion_matrix(np.array([0, 1]), np.array([0, 3]), num_classes=3, ignore_index=255)
    with pytest.raises(ValueError, match="pred values"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3, ignore_index=255)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]), num_classes=3, ignore_index=255)
    with pytest.raises(ValueError, match="ignore_index"):
        confusion_matrix(np.array([0]), np.array([0]), num_classes=3, ignore_index=1)
    # pred at an ignored pixel is not checked
    cm = confusion_matrix(np.array([0, 99]), np.array([0, 255]), num_classes=3, ignore_index=255)
    assert cm.sum() == 1


def test_iou_and_accuracy_tiny() -> None:
    # c0: TP 2, FP 3-2=1, FN 3-2=1 -> 2/4; c1: TP 2, FP 1, FN 0 -> 2/3; c2: TP 1, FP 0, FN 1 -> 1/2
    np.testing.assert_allclose(iou_per_class(CM), [0.5, 2 / 3, 0.5])
    assert mean_iou(CM) == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert pixel_accuracy(CM) == pytest.approx(5 / 7)  # trace 2+2+1 over 7 pixels


def test_iou_absent_class_nan_and_predicted_only_zero() -> None:
    cm = np.array(
        [
            [2, 0, 1, 0],  # gt 0: 2 right, 1 predicted as class 2
            [0, 3, 0, 0],  # gt 1: all right
            [0, 0, 0, 0],  # class 2 never in GT, but predicted once -> IoU 0, counted
            [0, 0, 0, 0],  # class 3 absent from GT and prediction -> NaN, skipped
        ]
    )
    iou = iou_per_class(cm)
    np.testing.assert_allclose(iou[:3], [2 / 3, 1.0, 0.0])
    assert math.isnan(iou[3])
    assert mean_iou(cm) == pytest.approx((2 / 3 + 1 + 0) / 3)  # = 5/9


def test_empty_matrix_gives_zero() -> None:
    cm = np.zeros((3, 3), dtype=np.int64)
    assert mean_iou(cm) == 0.0
    assert pixel_accuracy(cm) == 0.0


def test_confusion_matrix_class_two_halves_equal_one_full() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, size=(4, 6, 7))
    target[rng.random(target.shape) < 0.2] = 255
    pred = rng.integers(0, 5, size=(4, 6, 7))
    full = ConfusionMatrix(num_classes=5, ignore_index=255)
    full.update(pred, target)
    halves = ConfusionMatrix(num_classes=5, ignore_index=255)
    halves.update(pred[:2], target[:2])
    halves.update(pred[2:], target[2:])
    np.testing.assert_array_equal(halves.matrix, full.matrix)
    assert halves.compute() == full.compute()


def test_confusion_matrix_class_compute() -> None:
    acc = ConfusionMatrix(num_classes=3, ignore_index=255)
    acc.update(PRED, TARGET)
    out = acc.compute()
    assert set(out) == {"miou", "iou", "pixel_accuracy"}
    assert out["iou"] == pytest.approx([0.5, 2 / 3, 0.5])
    assert out["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert out["pixel_accuracy"] == pytest.approx(5 / 7)
    acc.reset()
    assert acc.matrix.sum() == 0


def test_al_curve_area_straight_line_equals_mean() -> None:
    # evenly spaced points on a line: area = (0.2 + 0.8) / 2 = mean(0.2, 0.4, 0.6, 0.8) = 0.5
    y = np.array([0.2, 0.4, 0.6, 0.8])
    assert al_curve_area(np.array([0, 10, 20, 30]), y) == pytest.approx(float(y.mean()))
    # uneven spacing, still a line in clicks: area = (y0 + yK) / 2
    assert al_curve_area(np.array([100, 150, 400]), np.array([0.1, 0.2, 0.7])) == pytest.approx(0.4)


def test_al_curve_area_uneven_spacing_by_hand() -> None:
    # x = [0, 10, 40] / 40 = [0, 0.25, 1]
    # area = 0.25 * (0.2 + 0.6) / 2 + 0.75 * (0.6 + 0.7) / 2 = 0.1 + 0.4875 = 0.5875
    assert al_curve_area(np.array([0, 10, 40]), np.array([0.2, 0.6, 0.7])) == pytest.approx(0.5875)


def test_al_curve_area_edge_cases() -> None:
    assert al_curve_area(np.array([5]), np.array([0.42])) == pytest.approx(0.42)
    # repeated click counts are allowed (zero-width segment): x = [0, .5, .5, 1]
    # area = 0.5 * (0.2 + 0.4) / 2 + 0 + 0.5 * (0.6 + 0.6) / 2 = 0.15 + 0.3 = 0.45
    got = al_curve_area(np.array([0, 10, 10, 20]), np.array([0.2, 0.4, 0.6, 0.6]))
    assert got == pytest.approx(0.45)
    # no click range (a fully labelled pool re-trained each round): the last mIoU
    assert al_curve_area(np.array([7, 7, 7]), np.array([0.1, 0.3, 0.2])) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="non-decreasing"):
        al_curve_area(np.array([0, 20, 10]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        al_curve_area(np.array([0, 1]), np.array([0.1]))


def test_gini_by_hand() -> None:
    assert abs(gini(np.array([5, 5, 5, 5]))) < 1e-12  # equal counts -> weights sum to 0
    # a = [0, 0, 0, 10] (+1e-7), weights 2i - n - 1 = [-3, -1, 1, 3]
    # G = (3 * 10) / (4 * 10) = 0.75
    assert gini(np.array([0, 0, 0, 10])) == pytest.approx(0.75, abs=1e-6)
    # order does not matter (sorted inside)
    assert gini(np.array([10, 0, 0, 0])) == pytest.approx(0.75, abs=1e-6)
    # negatives are shifted: [-1, 1] -> [0, 2]; G = (-1 * 0 + 1 * 2) / (2 * 2) = 0.5
    assert gini(np.array([-1.0, 1.0])) == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        gini(np.array([]))
