"""Simulated annotator: labels and click costs derived from ground truth (ALGORITHMS.md 2.1-2.4).

Label types (``LABEL_TYPES``) and their click cost:

- ``"dominant"`` (Cai et al., MulActSeg dominant baseline, OREAL): 1 click per region. The
  region is painted with the most frequent value among *all* its pixels, void included in the
  vote; a void-dominant region gets no usable label (-1) but its click is still paid.
- ``"multiclass"`` (MulActSeg multi-hot): 1 click per class present in the region; void is not
  a class and costs nothing (MulActSeg's VOC setting; its Cityscapes setting also charges an
  "undefined" click). ``annotate_regions`` lists the classes after boundary trimming.
- ``"pixel"`` (PixelPick): 1 click per queried pixel; void pixels return -1 (callers should
  not query them, see section 2.3).
- ``"full"`` (S4AL): a full pixel-wise mask of the region, priced like labelling each of its
  pixels, i.e. cost = number of pixels in the region. Void pixels count as labelled area (as
  in S4AL) but render as no-label (255).

Rendered training targets are ``uint8 (H, W)`` with ``alseg.IGNORE`` (255) = no label, built
with lookup tables indexed by ``region_map + 1`` (so region -1 maps to "not selected").
numpy only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from alseg import IGNORE, checks

__all__ = [
    "LABEL_TYPES",
    "RegionAnswers",
    "annotate_regions",
    "click_costs",
    "dominant_labels",
    "multiclass_labels",
    "multiclass_labels_with_undefined",
    "pixel_labels",
    "region_class_counts",
    "region_class_counts_trimmed",
    "render_full_regions",
    "render_region_classes",
    "trim_mask",
]

LABEL_TYPES: tuple[str, ...] = ("dominant", "multiclass", "pixel", "full")


# ----------------------------------------------------------------------------- guards
def _check_counts(counts: Any) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] < 2 or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(
            f"counts must be an integer (n_regions, C + 1) array with C >= 1 (last column = "
            f"void), got shape {counts.shape} dtype {counts.dtype}; build it with "
            "region_class_counts(...)."
        )
    return counts


def _check_coords(shape: tuple[int, ...], ys: Any, xs: Any) -> tuple[np.ndarray, np.ndarray]:
    ys = checks.int_array(ys, "ys", 1)
    xs = checks.int_array(xs, "xs", 1)
    if ys.shape != xs.shape:
        raise ValueError(
            f"ys and xs must have the same length, got {ys.shape[0]} and {xs.shape[0]}; pass "
            "one (y, x) pair per queried pixel."
        )
    h, w = shape
    if ys.size and (ys.min() < 0 or ys.max() >= h or xs.min() < 0 or xs.max() >= w):
        raise ValueError(
            f"pixel coordinates must lie in [0, {h}) x [0, {w}), got y in [{ys.min()}, "
            f"{ys.max()}] and x in [{xs.min()}, {xs.max()}]; use coordinates of this image."
        )
    return ys.astype(np.int64), xs.astype(np.int64)


def _check_region_ids(region_ids: Any) -> np.ndarray:
    ids = checks.int_array(region_ids, "region_ids", 1).astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(
            f"region_ids must be >= 0, got {ids.min()}; -1 means 'no region' and cannot be "
            "selected."
        )
    if np.unique(ids).size != ids.size:
        raise ValueError(
            f"region_ids must be unique, got {ids.size} ids with "
            f"{ids.size - np.unique(ids).size} duplicates; deduplicate with np.unique first."
        )
    return ids


def _selected_lut(region_map: np.ndarray, region_ids: np.ndarray) -> np.ndarray:
    """Bool LUT over ``region_map + 1``: True for the listed regions (index 0 = region -1)."""
    top = max(int(region_map.max()) if region_map.size else -1, int(region_ids.max(initial=-1)))
    lut = np.zeros(top + 2, dtype=bool)
    lut[region_ids + 1] = True
    return lut


# ----------------------------------------------------------------------------- counts
def region_class_counts(
    gt: np.ndarray,
    region_map: np.ndarray,
    n_regions: int,
    num_classes: int,
    ignore_index: int,
) -> np.ndarray:
    """Per-region class histogram ``(n_regions, C + 1) int64``; column C counts void pixels.

    ``gt (H, W)`` int class ids in ``[0, C)`` or ``ignore_index`` (void); ``region_map (H, W)``
    int ids in ``[-1, n_regions)``, -1 pixels are not counted. One ``np.bincount`` over
    ``region * (C + 1) + class`` (void -> class C).
    """
    gt = checks.int_array(gt, "gt", 2)
    rm = checks.region_map(region_map)
    if gt.shape != rm.shape:
        raise ValueError(
            f"gt and region_map must have the same shape, got {gt.shape} and {rm.shape}; "
            "compute regions at label resolution."
        )
    if num_classes < 1 or n_regions < 0:
        raise ValueError(
            f"need num_classes >= 1 and n_regions >= 0, got {num_classes} and {n_regions}."
        )
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index must lie outside [0, {num_classes}), got {ignore_index}; use the "
            "dataset's void id (e.g. 11 on CamVid)."
        )
    if rm.size and rm.max() >= n_regions:
        raise ValueError(
            f"region_map ids must be < n_regions={n_regions}, got {rm.max()}; pass "
            "n_regions = region_map.max() + 1."
        )
    void = gt == ignore_index
    bad = ~void & ((gt < 0) | (gt >= num_classes))
    if bad.any():
        raise ValueError(
            f"gt values must be in [0, {num_classes}) or ignore_index={ignore_index}, got "
            f"{gt[bad][0]}; remap void ids to ignore_index."
        )
    cls = np.where(void, num_classes, gt).astype(np.int64)
    keep = rm >= 0
    c1 = num_classes + 1
    flat = rm[keep].astype(np.int64) * c1 + cls[keep]
    return np.bincount(flat, minlength=n_regions * c1).reshape(n_regions, c1).astype(np.int64)


def trim_mask(region_map: np.ndarray, kernel: int = 5) -> np.ndarray:
    """Pixels kept by MulActSeg's boundary trimming, ``(H, W) bool`` (ALGORITHMS.md 2.2).

    Boundary band = ``skimage.segmentation.find_boundaries(region_map, mode='thick')`` (default
    connectivity 1): a pixel whose 4-neighbour (up, down, left, right) has a different id,
    which marks both sides of every edge; outside the image counts as "same id". The band is
    then dilated by a ``kernel x kernel`` all-ones square (zero border, as skimage's
    ``binary_dilation``); the mask is True off the dilated band. Id -1 counts as one more id.
    ``kernel`` odd >= 1 (MulActSeg: ``--trim_kernel_size 5``). numpy only.
    """
    rm = checks.region_map(region_map)
    if isinstance(kernel, bool) or not isinstance(kernel, int | np.integer) or kernel < 1:
        raise ValueError(f"kernel must be an odd int >= 1, got {kernel!r}; MulActSeg uses 5.")
    if kernel % 2 == 0:
        raise ValueError(
            f"kernel must be odd so the square is centred on the pixel, got {kernel}; use 5."
        )
    band = np.zeros(rm.shape, dtype=np.uint8)
    dx = rm[:, 1:] != rm[:, :-1]
    dy = rm[1:, :] != rm[:-1, :]
    band[:, 1:] |= dx
    band[:, :-1] |= dx
    band[1:, :] |= dy
    band[:-1, :] |= dy
    if kernel > 1 and band.size:  # separable k x k max filter = binary dilation, zero border
        half = kernel // 2
        for axis in (0, 1):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (half, half)
            win = np.lib.stride_tricks.sliding_window_view(np.pad(band, pad), kernel, axis=axis)
            band = win.max(axis=-1)
    return band == 0


def region_class_counts_trimmed(
    gt: np.ndarray,
    region_map: np.ndarray,
    n_regions: int,
    num_classes: int,
    ignore_index: int,
    kernel: int = 5,
) -> np.ndarray:
    """Like :func:`region_class_counts` but over the pixels kept by :func:`trim_mask`.

    ``(n_regions, C + 1) int64``, column C = void. A region with no pixel left after trimming
    falls back to its untrimmed counts (as MulActSeg does), so only empty regions are all-zero.
    """
    rm = checks.region_map(region_map)
    full = region_class_counts(gt, rm, n_regions, num_classes, ignore_index)
    trimmed_map = np.where(trim_mask(rm, kernel), rm, -1)
    trimmed = region_class_counts(gt, trimmed_map, n_regions, num_classes, ignore_index)
    gone = trimmed.sum(axis=1) == 0
    return np.where(gone[:, None], full, trimmed)


def multiclass_labels_with_undefined(counts: np.ndarray) -> np.ndarray:
    """Multi-hot label with MulActSeg's "undefined" channel, ``(n_regions, C + 1) bool``.

    Column c < C: class c present; column C: the region holds any void pixel. Its click cost
    (Cityscapes setting) is ``click_costs("multiclass", sizes, ...)`` of this array, undefined
    included.
    """
    counts = _check_counts(counts)
    return counts > 0


# ----------------------------------------------------------------------------- labels
def dominant_labels(counts: np.ndarray) -> np.ndarray:
    """Dominant class per region ``(n_regions,) int16``.

    ``argmax`` over all C + 1 columns of ``counts`` (void votes, as in Cai and MulActSeg;
    ties -> lowest id). Void-dominant or empty regions -> -1 (no usable label).
    """
    counts = _check_counts(counts)
    void_col = counts.shape[1] - 1
    lab = np.argmax(counts, axis=1)
    lab = np.where((lab == void_col) | (counts.sum(axis=1) == 0), -1, lab)
    return lab.astype(np.int16)


def multiclass_labels(counts: np.ndarray) -> np.ndarray:
    """Multi-hot label ``(n_regions, C) bool``: classes with count > 0; void column excluded."""
    counts = _check_counts(counts)
    return counts[:, :-1] > 0


def pixel_labels(gt: np.ndarray, ys: np.ndarray, xs: np.ndarray, ignore_index: int) -> np.ndarray:
    """GT class at each queried pixel ``(n,) int16``; -1 where ``gt == ignore_index`` (void).

    ``gt (H, W)`` int; ``ys, xs (n,)`` int coordinates inside the image. Cost: 1 per pixel.
    """
    gt = checks.int_array(gt, "gt", 2)
    ys, xs = _check_coords(gt.shape, ys, xs)
    vals = gt[ys, xs].astype(np.int64)
    return np.where(vals == ignore_index, -1, vals).astype(np.int16)


# ----------------------------------------------------------------------------- the annotator
class RegionAnswers(NamedTuple):
    """What the annotator gives for every region of one image (R regions)."""

    dominant: np.ndarray  # (R,) int16, -1 = void-dominant or empty
    classes: np.ndarray  # (R, K) bool multi-hot, K = C (+ 1 'undefined' with void: undefined)
    cost: np.ndarray  # (R,) int32 clicks for the label type


def click_costs(
    label_type: str, sizes: np.ndarray, multihot: np.ndarray | None = None
) -> np.ndarray:
    """Clicks per region (R,) int32: dominant 1; multiclass = classes listed in ``multihot``
    (R, K) (after trimming; 'undefined' included when listed); full = ``sizes`` (R,), the
    region's pixels, void included."""
    if label_type == "dominant":
        return np.ones(len(sizes), np.int32)
    if label_type == "full":
        return np.asarray(sizes).astype(np.int32)
    if label_type == "multiclass" and multihot is not None:
        return np.asarray(multihot).sum(1).astype(np.int32)
    raise ValueError(
        f"label_type must be dominant, multiclass (with multihot) or full, got {label_type!r}"
    )


def annotate_regions(
    label_type: str,
    gt: np.ndarray,
    region_map: np.ndarray,
    n_regions: int,
    num_classes: int,
    trim_kernel: int = 0,
    undefined: bool = False,
) -> RegionAnswers:
    """The simulated annotator on every region of one image: gt (H, W) with void =
    ``alseg.IGNORE``, region_map (H, W) ids in [-1, n_regions).

    The multi-class label lists the classes left after boundary trimming (``trim_kernel``,
    multiclass only; 0 = off) and, with ``undefined``, void as class C; the dominant label and
    the full mask use every pixel.
    """
    counts = region_class_counts(gt, region_map, n_regions, num_classes, IGNORE)
    listed = counts
    if label_type == "multiclass" and trim_kernel:
        listed = region_class_counts_trimmed(gt, region_map, n_regions, num_classes, IGNORE,
                                             kernel=trim_kernel)  # fmt: skip
    multihot = multiclass_labels_with_undefined(listed) if undefined else multiclass_labels(listed)
    cost = click_costs(label_type, counts.sum(1), multihot)
    return RegionAnswers(dominant_labels(counts), multihot, cost)


# ----------------------------------------------------------------------------- rendering
def _check_classes(classes: Any, n: int) -> np.ndarray:
    cls = checks.int_array(classes, "classes", 1).astype(np.int64)
    if cls.shape[0] != n:
        raise ValueError(
            f"classes must have one entry per region/pixel ({n}), got {cls.shape[0]}; pass "
            "aligned arrays."
        )
    if cls.size and (cls.min() < -1 or cls.max() >= IGNORE):
        raise ValueError(
            f"classes must be in [-1, {IGNORE}) (-1 = no label), got range [{cls.min()}, "
            f"{cls.max()}]; uint8 targets reserve {IGNORE} for 'no label'."
        )
    return cls


def render_region_classes(
    region_map: np.ndarray, region_ids: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    """Paint each listed region with its class: ``(H, W) uint8``, 255 elsewhere.

    ``region_ids (K,)`` unique ids >= 0, ``classes (K,)`` in ``[-1, 255)``; class -1 (e.g. a
    void-dominant region) stays 255. Lookup table indexed by ``region_map + 1``.
    """
    rm = checks.region_map(region_map)
    ids = _check_region_ids(region_ids)
    cls = _check_classes(classes, ids.shape[0])
    top = max(int(rm.max()) if rm.size else -1, int(ids.max(initial=-1)))
    lut = np.full(top + 2, IGNORE, dtype=np.uint8)
    lut[ids + 1] = np.where(cls < 0, IGNORE, cls).astype(np.uint8)
    return lut[rm + 1]


def render_full_regions(
    region_map: np.ndarray, region_ids: np.ndarray, gt: np.ndarray, ignore_index: int
) -> np.ndarray:
    """Copy GT inside the listed regions: ``(H, W) uint8``; void and unselected pixels -> 255."""
    rm = checks.region_map(region_map)
    ids = _check_region_ids(region_ids)
    gt = checks.int_array(gt, "gt", 2)
    if gt.shape != rm.shape:
        raise ValueError(
            f"gt and region_map must have the same shape, got {gt.shape} and {rm.shape}; "
            "compute regions at label resolution."
        )
    mask = _selected_lut(rm, ids)[rm + 1] & (gt != ignore_index)
    if mask.any() and (gt[mask].min() < 0 or gt[mask].max() >= IGNORE):
        raise ValueError(
            f"gt classes must be in [0, {IGNORE}) outside void, got range [{gt[mask].min()}, "
            f"{gt[mask].max()}]; remap void ids to ignore_index={ignore_index}."
        )
    return np.where(mask, gt, IGNORE).astype(np.uint8)
