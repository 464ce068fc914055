"""The labelled state of the pool as tables: region keys, labelled masks, class lists, class
counts and rendered training targets. Shared by the stages (numpy + pyarrow).

Tables (``alseg.tables``): the regions table (one row per region: image_index, region_id,
n_pixels), the labels table (one row per labelled region: label_type, dominant (int16, -1 =
void-dominant), classes (list<int16>), cost).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alseg import IGNORE, oracle, storage
from alseg.acquisition.oreal import labelled_class_counts
from alseg.tables import read_table

if TYPE_CHECKING:
    from alseg.config import LabelConfig


def num_outputs(num_classes: int, label: LabelConfig) -> int:
    """Model outputs: the classes, plus MulActSeg's 'undefined' (void) class when it is labelled."""
    return num_classes + int(label.type == "multiclass" and label.void == "undefined")


def region_keys(image_index: np.ndarray, region_id: np.ndarray, stride: int) -> np.ndarray:
    """One int64 key per (image, region): ``image_index * stride + region_id``."""
    return image_index.astype(np.int64) * stride + region_id.astype(np.int64)


def _direct_rows(table: pa.Table, other: pa.Table) -> np.ndarray | None:
    """Rows of ``other``'s keys in a regions table without a key per table row: the table lists
    images in order with ids 0 .. R_i - 1 each (as the regions stage writes it), so the row of
    (i, r) is first_row(i) + r. Every row found is checked; None when one does not match."""
    image, region = table["image_index"].to_numpy(), table["region_id"].to_numpy()
    want_image = other["image_index"].to_numpy()
    want_region = other["region_id"].to_numpy()
    if (
        len(want_image) == len(image)
        and np.array_equal(want_image, image)
        and np.array_equal(want_region, region)
    ):
        return np.arange(len(image))  # the same keys in the same order (the scores table)
    rows = np.searchsorted(image, want_image) + want_region.astype(np.int64)
    inside = (rows >= 0) & (rows < len(image))
    if not inside.all():
        return None
    found = (image[rows] == want_image) & (region[rows] == want_region)
    return rows if found.all() else None


def labelled_mask(table: pa.Table, labels: pa.Table) -> np.ndarray:
    """bool (n_regions,) over regions-table rows: already labelled."""
    rows = _direct_rows(table, labels) if len(table) else None
    if rows is not None:
        mask = np.zeros(len(table), bool)
        mask[rows] = True
        return mask
    stride = int(table["region_id"].to_numpy().max()) + 1
    keys = region_keys(table["image_index"].to_numpy(), table["region_id"].to_numpy(), stride)
    done = region_keys(labels["image_index"].to_numpy(), labels["region_id"].to_numpy(), stride)
    return np.isin(keys, done)


def table_rows(table: pa.Table, other: pa.Table) -> np.ndarray:
    """Row of ``table`` (regions table) for each (image_index, region_id) row of ``other``."""
    rows = _direct_rows(table, other) if len(table) else None
    if rows is not None:
        return rows
    stride = int(table["region_id"].to_numpy().max()) + 1
    keys = region_keys(table["image_index"].to_numpy(), table["region_id"].to_numpy(), stride)
    order = np.argsort(keys)
    wanted = region_keys(other["image_index"].to_numpy(), other["region_id"].to_numpy(), stride)
    return order[np.searchsorted(keys[order], wanted)]


def labelled_pixel_mask(labels: pa.Table, shape: tuple[int, int, int]) -> np.ndarray:
    """Pixel pools: bool (N, H * W), pixels already in the labels table."""
    mask = np.zeros((shape[0], shape[1] * shape[2]), bool)
    mask[labels["image_index"].to_numpy(), labels["region_id"].to_numpy()] = True
    return mask


def multihot_labels(labels: pa.Table, num_classes: int) -> np.ndarray:
    """bool (N, num_classes) of the labels table's class lists (ids >= num_classes, i.e. the
    'undefined' void class, are dropped unless num_classes covers them)."""
    classes = labels["classes"].combine_chunks()
    ids = classes.flatten().to_numpy().astype(np.int64)
    parent = pc.list_parent_indices(classes).to_numpy()
    keep = ids < num_classes
    multihot = np.zeros((len(labels), num_classes), bool)
    multihot[parent[keep], ids[keep]] = True
    return multihot


def class_lists(multihot: np.ndarray) -> pa.ListArray:
    """list<int16> of the class ids set in each row of multihot (N, K) bool, ascending."""
    rows, cols = np.nonzero(multihot)
    offsets = np.searchsorted(rows, np.arange(len(multihot) + 1)).astype(np.int32)
    return pa.ListArray.from_arrays(offsets, pa.array(cols.astype(np.int16)))


def labelled_class_counts_of(labels: pa.Table, num_classes: int) -> np.ndarray:
    """n_c: labelled regions whose label holds class c (the dominant class under dominant labels,
    every class present otherwise) -> (C,) int64."""
    if len(labels) and labels["label_type"][0].as_py() == "dominant":
        dominant = labels["dominant"].to_numpy().astype(np.int64)
        return labelled_class_counts(dominant[dominant >= 0], num_classes)
    return labelled_class_counts(multihot_labels(labels, num_classes), num_classes)


def region_labels_of(
    labels_dir: Path, regions: str | Path, target_images: np.ndarray, n_outputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-class region labels of the labelled images (ascending pool indices): region maps
    int32 (K, H, W), read by rows from the ``regions`` folder (a path or an s3:// prefix), and
    region classes bool (K, R, n_outputs), R = the pool's region id count (unlabelled regions:
    all False)."""
    labels = read_table(Path(labels_dir) / "labels.parquet", "labels")
    maps = storage.NpyRows(storage.join(str(regions), "train_regions.npy"))
    classes = region_classes_of(labels, target_images, region_id_count(region_meta(regions), maps),
                                n_outputs)  # fmt: skip
    return maps.take(target_images), classes


def region_meta(regions: str | Path) -> dict:
    """The ``meta.json`` of a regions folder (a path or an s3:// prefix): method, region_ids."""
    return json.loads(storage.read_bytes(storage.join(str(regions), "meta.json")))


def region_id_count(meta: dict, maps: storage.NpyRows | np.ndarray) -> int:
    """Width of the per-image region tables: max region id + 1 over the whole pool (from the
    regions ``meta``; folders written before it recorded ``region_ids``: a scan of the maps)."""
    if "region_ids" in meta:
        return int(meta["region_ids"])
    return max((int(maps[r : r + 64].max(initial=-1)) for r in range(0, len(maps), 64)),
               default=-1) + 1  # fmt: skip


def region_classes_of(
    labels: pa.Table, images: np.ndarray, n_regions: int, n_outputs: int
) -> np.ndarray:
    """bool (K, n_regions, n_outputs): the labelled classes of each region of the K images
    ``images`` (ascending pool indices); labels of other images are left out."""
    image_index = labels["image_index"].to_numpy()
    row = np.searchsorted(images, image_index)
    mine = row < len(images)
    mine[mine] = images[row[mine]] == image_index[mine]
    classes = np.zeros((len(images), n_regions, n_outputs), bool)
    ids = labels["region_id"].to_numpy()[mine]
    classes[row[mine], ids] = multihot_labels(labels, n_outputs)[mine]
    return classes


def rows_by_image(image_index: np.ndarray) -> list[np.ndarray]:
    """Row indices grouped by image (images ascending), from one stable sort."""
    order = np.argsort(image_index, kind="stable")
    starts = np.flatnonzero(np.diff(image_index[order], prepend=-1))
    return np.split(order, starts[1:]) if len(order) else []


def target_images_of(labels: pa.Table) -> np.ndarray:
    """The labelled images, ascending: int32 (K,), the row order of ``render_targets``."""
    return np.unique(labels["image_index"].to_numpy()).astype(np.int32)


def iter_targets(
    label_type: str, labels: pa.Table, gt: np.ndarray, maps: np.ndarray
) -> Iterator[np.ndarray]:
    """The training target uint8 (H, W) of each labelled image in turn (images ascending),
    so that a caller may write them one at a time (see ``render_targets``)."""
    image_index = labels["image_index"].to_numpy()
    region_id = labels["region_id"].to_numpy()
    painted = _painted_classes(label_type, labels)
    for rows in rows_by_image(image_index):
        index = image_index[rows[0]]
        if label_type == "full":
            yield oracle.render_full_regions(maps[index], region_id[rows], gt[index], IGNORE)
        else:
            yield oracle.render_region_classes(maps[index], region_id[rows], painted[rows])


def _painted_classes(label_type: str, labels: pa.Table) -> np.ndarray:
    """The class each labelled region is painted with (-1 / void: left at 255): the dominant
    class, or under multiclass labels the class of single-class regions."""
    if label_type != "multiclass":
        return labels["dominant"].to_numpy()
    classes = labels["classes"].combine_chunks()
    parent = pc.list_parent_indices(classes).to_numpy()
    flat = classes.flatten().to_numpy()
    first = np.full(len(labels), -1, np.int64)
    owners, first_item = np.unique(parent, return_index=True)
    first[owners] = flat[first_item]
    return np.where(np.bincount(parent, minlength=len(labels)) == 1, first, -1)


def render_targets(
    label_type: str, labels: pa.Table, gt: np.ndarray, maps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training targets uint8 (K, H, W) (255 = unlabelled) of the K labelled images.

    dominant: the region painted with its dominant class (void-dominant regions stay 255);
    full: ground truth inside the region; multiclass: single-class regions painted with their
    class (regions with several classes need a partial-label trainer and stay 255 here).
    """
    images = target_images_of(labels)
    targets = np.full((len(images), *maps.shape[1:]), IGNORE, np.uint8)
    for k, target in enumerate(iter_targets(label_type, labels, gt, maps)):
        targets[k] = target
    return targets, images


def save_targets(path: Path, targets: Iterable[np.ndarray], shape: tuple[int, ...]) -> int:
    """Write ``targets.npy`` uint8 ``shape`` (K, H, W) one image at a time (as ``np.save`` of
    the stacked array would); returns the pixels that are not IGNORE."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
              "fortran_order": False, "shape": tuple(shape)}  # fmt: skip
    labelled, written = 0, 0
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for target in targets:
            target = np.ascontiguousarray(target, np.uint8)
            labelled += int(np.count_nonzero(target != IGNORE))
            f.write(target.tobytes())
            written += 1
    if written != shape[0]:
        raise ValueError(f"{path}: wrote {written} targets, expected {shape[0]}")
    return labelled
