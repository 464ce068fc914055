"""Evaluation metrics: confusion matrix, IoU / mIoU, pixel accuracy, AuALC and Gini.

Spec: ALGORITHMS.md section 6. numpy only.

Zero-division rules (stated once, used everywhere here):

- ``iou_per_class``: a class whose union ``TP + FP + FN`` is 0 (absent from both the ground
  truth and the prediction) gets IoU ``NaN``. A class that is only predicted (``TP = 0``,
  ``FP > 0``) or only in the ground truth has IoU 0 and *is* counted.
- ``mean_iou``: mean over the classes with union > 0 (``np.nanmean`` as in S4AL; MulActSeg's
  ``np.mean`` would turn the whole mean into NaN). 0.0 when no class has a union (empty matrix).
- ``pixel_accuracy``: 0.0 when the matrix holds no pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alseg.checks import int_array

__all__ = [
    "ConfusionMatrix",
    "al_curve_area",
    "confusion_matrix",
    "gini",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
]


# ----------------------------------------------------------------------------- guards
def _check_num_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(
            f"num_classes must be a positive int, got {num_classes!r}; pass the number of "
            "evaluated classes (e.g. 11 on CamVid)."
        )


def _check_ignore_index(ignore_index: int, num_classes: int) -> None:
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index must lie outside [0, {num_classes}), got {ignore_index}; it would "
            "silently drop a real class. Use the dataset's void id (e.g. 11 on CamVid, 255)."
        )


def _check_cm(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            f"confusion matrix must be square (C, C) with C >= 1, got shape {cm.shape}; "
            "build it with confusion_matrix(pred, target, num_classes, ignore_index)."
        )
    return cm


# ----------------------------------------------------------------------------- mIoU
def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int
) -> np.ndarray:
    """Confusion matrix ``cm (C, C) int64``; ``cm[t, p]`` = #pixels with GT ``t`` predicted ``p``.

    ``pred`` and ``target`` are integer arrays of any identical shape (e.g. ``(B, H, W)``).
    Pixels with ``target == ignore_index`` are dropped (their ``pred`` is not checked). One
    ``np.bincount`` over ``target * C + pred``.

    Raises ValueError on shape mismatch, non-integer input, or a kept pixel whose target or
    pred lies outside ``[0, C)``.
    """
    _check_num_classes(num_classes)
    _check_ignore_index(ignore_index, num_classes)
    hint = " (take argmax over C first if these are scores)"
    pred = int_array(pred, "pred", hint=hint)
    target = int_array(target, "target", hint=hint)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {pred.shape} and target "
            f"{target.shape}; resize the prediction to the label size (nearest) first."
        )
    keep = target != ignore_index
    t = target[keep].astype(np.int64)
    p = pred[keep].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        bad = t[(t < 0) | (t >= num_classes)][0]
        raise ValueError(
            f"target values must be in [0, {num_classes}) or ignore_index={ignore_index}, "
            f"got {bad}; remap void ids to ignore_index before evaluating."
        )
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        bad = p[(p < 0) | (p >= num_classes)][0]
        raise ValueError(
            f"pred values must be in [0, {num_classes}), got {bad}; take argmax over the "
            f"first {num_classes} channels only (drop any extra 'undefined' channel)."
        )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU ``(C,) float64`` = TP / (TP + FP + FN); NaN where the union is 0.

    TP = ``cm[c, c]``, FP = column sum - TP, FN = row sum - TP (rows = GT, cols = prediction).
    """
    cm = _check_cm(cm).astype(np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    iou = np.full(tp.shape, np.nan, dtype=np.float64)
    np.divide(tp, union, out=iou, where=union > 0)
    return iou


def mean_iou(cm: np.ndarray) -> float:
    """mIoU = mean of ``iou_per_class(cm)`` over classes with union > 0; 0.0 if there are none."""
    iou = iou_per_class(cm)
    valid = ~np.isnan(iou)
    if not valid.any():
        return 0.0
    return float(iou[valid].mean())


def pixel_accuracy(cm: np.ndarray) -> float:
    """Pixel accuracy = trace(cm) / sum(cm); 0.0 for an empty matrix."""
    cm = _check_cm(cm)
    total = cm.sum()
    if total == 0:
        return 0.0
    return float(np.trace(cm) / total)


class ConfusionMatrix:
    """Accumulating confusion matrix: ``update`` batches, then ``compute`` the metrics.

    ``matrix (C, C) int64`` is the running sum of ``confusion_matrix`` over all updates, so two
    half updates give exactly the matrix of one full update.
    """

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        _check_num_classes(num_classes)
        _check_ignore_index(ignore_index, num_classes)
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    @property
    def matrix(self) -> np.ndarray:
        """Copy of the accumulated ``(C, C) int64`` matrix (rows = GT, cols = prediction)."""
        return self._matrix.copy()

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add the pixels of one batch (same shapes, integer class ids)."""
        self._matrix += confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    def reset(self) -> None:
        """Zero the accumulated matrix."""
        self._matrix[...] = 0

    def compute(self) -> dict[str, Any]:
        """``{"miou": float, "iou": list[float] (NaN = class absent), "pixel_accuracy": float}``."""
        return {
            "miou": mean_iou(self._matrix),
            "iou": [float(v) for v in iou_per_class(self._matrix)],
            "pixel_accuracy": pixel_accuracy(self._matrix),
        }


# ----------------------------------------------------------------------------- AL curve
def al_curve_area(clicks: np.ndarray, miou: np.ndarray) -> float:
    """AuALC: trapezoidal area under mIoU vs. clicks with clicks normalised to [0, 1].

    ``x_k = (clicks_k - clicks_0) / (clicks_K - clicks_0)``;
    ``AuALC = sum_k (x_{k+1} - x_k) * (miou_k + miou_{k+1}) / 2``, i.e. a spacing-weighted
    mean mIoU in the units of ``miou`` (pass percentages to get OREAL-style numbers). With one
    point, or when every round has the same clicks (full supervision re-trained per round), the
    result is the last mIoU. ``clicks (K,)`` must be non-decreasing. (Normalisation is an
    assumption: ALGORITHMS.md section 6.)
    """
    x = np.asarray(clicks, dtype=np.float64)
    y = np.asarray(miou, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(
            f"clicks and miou must be 1-D of the same length K >= 1, got shapes {x.shape} and "
            f"{y.shape}; pass one value per AL round."
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(
            "clicks and miou must be finite, got NaN/inf; drop rounds that were not evaluated."
        )
    if x.size == 1:
        return float(y[0])
    dx = np.diff(x)
    if (dx < 0).any():
        i = int(np.argmax(dx < 0))
        raise ValueError(
            f"clicks must be non-decreasing, got clicks[{i}]={x[i]} > clicks[{i + 1}]="
            f"{x[i + 1]}; pass the cumulative labelling cost in round order."
        )
    span = x[-1] - x[0]
    if span == 0:  # every round at the same cost (a pool labelled in full from round 0)
        return float(y[-1])
    return float(np.sum(dx / span * (y[:-1] + y[1:]) / 2.0))


# ----------------------------------------------------------------------------- balance
def gini(counts: np.ndarray) -> float:
    """Gini index of per-class counts (OREAL ``simple_AL/utils.py::gini``); 0 = uniform.

    ``a = counts - min(min(counts), 0) + 1e-7`` sorted ascending, ``n = len(a)``,
    ``G = sum_i (2i - n - 1) a_i / (n sum_i a_i)`` with ``i = 1..n``. OREAL reports ``1 - G``.
    """
    a = np.asarray(counts, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"counts must be a non-empty 1-D array (one count per class), got shape {a.shape}; "
            "flatten it or pass the per-class totals."
        )
    if not np.isfinite(a).all():
        raise ValueError("counts must be finite, got NaN/inf; pass the per-class pixel counts.")
    a = np.sort(a - min(a.min(), 0.0) + 1e-7)
    n = a.size
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2.0 * i - n - 1.0) * a) / (n * np.sum(a)))
