"""Dataset layouts -> lists of (image, label) URIs, and validated decoding of one pair.

Layouts:
- ``camvid``: ``ROOT/{train,val,test}/NAME.png`` with labels ``ROOT/{split}annot/NAME.png``;
  11 classes, void id 11 (a ``classes.json`` in ROOT overrides classes and void id).
- ``folder``: ``ROOT/images/{split}/NAME.(png|jpg)`` with labels ``ROOT/labels/{split}/NAME.png``;
  classes from the config or ``ROOT/classes.json`` = ``{"classes": [...], "ignore_index": K}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

import cv2
import numpy as np

from alseg import IGNORE, storage

CAMVID_CLASSES = [
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
]  # fmt: skip
CAMVID_VOID = 11
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class DataError(ValueError):
    """Bad dataset input; the message names the file."""


@dataclass(frozen=True)
class Sample:
    image_id: str
    split: str
    image_uri: str
    label_uri: str


@dataclass(frozen=True)
class ClassInfo:
    classes: list[str]
    ignore_index: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_class_info(root: str, classes: list[str] | None, ignore: int | None) -> ClassInfo | None:
    """Classes from the config, else from ``ROOT/classes.json``, else None."""
    if classes is not None:
        return ClassInfo(list(classes), len(classes) if ignore is None else ignore)
    uri = storage.join(root, "classes.json")
    if not storage.exists(uri):
        return None
    try:
        spec = json.loads(storage.read_bytes(uri))
        return ClassInfo(list(spec["classes"]), int(spec.get("ignore_index", len(spec["classes"]))))
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{uri}: expected {{'classes': [...], 'ignore_index': K}}: {err}") from None


def _stem(uri: str) -> str:
    return PurePosixPath(uri).stem


def _pair(images_dir: str, labels_dir: str, split: str) -> list[Sample]:
    images = storage.list_files(images_dir, IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{images_dir}: no images found")
    labels = {_stem(u): u for u in storage.list_files(labels_dir, (".png",))}
    samples = []
    for uri in images:
        label = labels.get(_stem(uri))
        if label is None:
            raise DataError(f"{uri}: missing label file {storage.join(labels_dir, _stem(uri))}.png")
        samples.append(Sample(_stem(uri), split, uri, label))
    return samples


def list_samples(layout: str, root: str, split: str) -> list[Sample]:
    """The (image, label) pairs of one split, sorted by image name."""
    if layout == "camvid":
        return _pair(storage.join(root, split), storage.join(root, f"{split}annot"), split)
    if layout == "folder":
        return _pair(
            storage.join(root, "images", split), storage.join(root, "labels", split), split
        )
    raise DataError(f"unknown dataset layout '{layout}' (expected camvid or folder)")


def has_split(layout: str, root: str, split: str) -> bool:
    folder = (
        storage.join(root, split) if layout == "camvid" else storage.join(root, "images", split)
    )
    return storage.exists(folder)


def decode_image(uri: str) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3); DataError naming the file if corrupt."""
    buffer = np.frombuffer(storage.read_bytes(uri), np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{uri}: corrupt or unreadable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_label(uri: str, info: ClassInfo) -> np.ndarray:
    """Decode a label PNG to uint8 (H, W) with void mapped to alseg.IGNORE (255).

    Raises DataError naming the file if it is unreadable, not single-channel, or holds an id
    outside ``[0, num_classes)`` that is not the void id.
    """
    buffer = np.frombuffer(storage.read_bytes(uri), np.uint8)
    label = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DataError(f"{uri}: corrupt or unreadable label image")
    if label.ndim != 2:
        raise DataError(f"{uri}: label must be single-channel, got shape {label.shape}")
    ids = np.unique(label)
    bad = ids[(ids >= info.num_classes) & (ids != info.ignore_index)]
    if bad.size:
        raise DataError(
            f"{uri}: label ids {bad.tolist()} outside 0..{info.num_classes - 1} "
            f"(void id {info.ignore_index})"
        )
    out = label.astype(np.uint8)
    out[label == info.ignore_index] = IGNORE
    return out


def resize_pair(
    image: np.ndarray, label: np.ndarray, size: tuple[int, int], uri: str
) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (area/linear) and label (nearest) to ``size = (H, W)``."""
    if image.shape[:2] != label.shape:
        raise DataError(f"{uri}: image {image.shape[:2]} and label {label.shape} sizes differ")
    height, width = size
    if image.shape[:2] == (height, width):
        return image, label
    shrink = height < image.shape[0]
    image = cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)
    return image, label
