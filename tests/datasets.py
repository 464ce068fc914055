"""Tiny datasets in every layout, generated on the fly for reader, prepare and CLI tests.

Labels are random blocks of class ids (8x8 cells) with a void stripe along the top rows; images
are the class colour plus noise, so a model can learn them in a few steps.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from alseg.data.cityscapes import LABEL_TO_TRAIN
from alseg.data.voc import voc_colormap

SIZE = (32, 48)  # (H, W) of every generated file


def block_labels(rng: np.random.Generator, ids: list[int], size=SIZE, cell: int = 8) -> np.ndarray:
    """int64 (H, W): a random id from ``ids`` per cell x cell block."""
    grid = rng.choice(ids, (size[0] // cell, size[1] // cell))
    return np.kron(grid, np.ones((cell, cell), np.int64))


def image_for(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB (H, W, 3) whose colour follows the label (train-able in a few steps)."""
    base = np.stack([(label * 53) % 256, (label * 97) % 256, (label * 31) % 256], -1)
    return np.clip(base + rng.integers(-20, 20, (*label.shape, 3)), 0, 255).astype(np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def write_palette_label(path: Path, ids: np.ndarray, palette: list[tuple[int, int, int]]) -> None:
    """Palette-indexed PNG: pixel values are the ids, colours from ``palette`` (256 entries)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    label = Image.fromarray(ids.astype(np.uint8), "P")
    label.putpalette([v for rgb in palette for v in rgb])
    label.save(path)


def write_voc(root: Path, splits=None, grey: bool = False, seed: int = 0) -> Path:
    """ROOT/JPEGImages/*.jpg, SegmentationClass/*.png (VOC palette, or grey), 255 borders,
    ImageSets/Segmentation/{split}.txt; classes 0..4 of VOC's 21."""
    rng = np.random.default_rng(seed)
    splits = splits or {"train": 6, "val": 3}
    palette = voc_colormap(256)
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    for split, n in splits.items():
        names = [f"2007_{split}_{i:03d}" for i in range(n)]
        for name in names:
            ids = block_labels(rng, [0, 1, 2, 3, 4])
            image = image_for(ids, rng)
            ids[:, 8] = 255  # object boundary, void
            write_rgb(root / "JPEGImages" / f"{name}.jpg", image)
            label = root / "SegmentationClass" / f"{name}.png"
            label.parent.mkdir(parents=True, exist_ok=True)
            if grey:
                cv2.imwrite(str(label), ids.astype(np.uint8))
            else:
                write_palette_label(label, ids, palette)
        (lists / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return root


def write_cityscapes(root: Path, splits=None, train_ids: bool = False, seed: int = 0) -> Path:
    """leftImg8bit/{split}/{city}/*_leftImg8bit.png + gtFine/.../*_gtFine_labelIds.png (and
    *_labelTrainIds.png when ``train_ids``); two cities per split, labelIds from the 34."""
    rng = np.random.default_rng(seed)
    splits = splits or {"train": 6, "val": 2}
    label_ids = [7, 8, 11, 21, 26]  # road, sidewalk, building, vegetation, car
    for split, n in splits.items():
        for i in range(n):
            city = ("aachen", "bremen")[i % 2]
            stem = f"{city}_{i:06d}_000019"
            ids = block_labels(rng, label_ids)
            ids[:2] = 1  # ego vehicle: void
            train = np.vectorize(lambda v: LABEL_TO_TRAIN.get(int(v), 255))(ids)
            write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
                      image_for(train, rng))  # fmt: skip
            gt = root / "gtFine" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(gt / f"{stem}_gtFine_labelIds.png"), ids.astype(np.uint8))
            if train_ids:
                cv2.imwrite(str(gt / f"{stem}_gtFine_labelTrainIds.png"), train.astype(np.uint8))
    return root


FOLDER_COLORS = [(0, 0, 0), (200, 30, 30), (30, 200, 30), (30, 30, 200)]


def write_folder(
    root: Path, labels: str = "index8", images: str = "rgb", splits=None, seed: int = 0
) -> Path:
    """ROOT/images/{split}/*, ROOT/labels/{split}/*.png, ROOT/classes.json; 4 classes.

    labels: ``index8`` (void id 255), ``index16`` (16-bit, void id 1000), ``colour`` (RGB from
    FOLDER_COLORS, void class 'unlabelled' white), ``palette``. images: ``rgb`` (.png), ``jpg``,
    ``grey``, ``rgb16``, ``rgba``.
    """
    rng = np.random.default_rng(seed)
    splits = splits or {"train": 6, "val": 3}
    classes = ["background", "road", "car", "person"]
    spec: dict = {"classes": classes, "ignore_index": 255}
    if labels == "index16":
        spec["ignore_index"] = 1000
    if labels == "colour":
        spec = {"classes": [*classes, "unlabelled"], "void_classes": ["unlabelled"],
                "colors": [*FOLDER_COLORS, (255, 255, 255)]}  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps(spec))
    for split, n in splits.items():
        for i in range(n):
            ids = block_labels(rng, [0, 1, 2, 3])
            image = image_for(ids, rng)
            ids[:2] = {"index16": 1000, "colour": 4}.get(labels, 255)
            _write_image(root / "images" / split / f"img{i:03d}", image, images)
            _write_label(root / "labels" / split / f"img{i:03d}.png", ids, labels)
    return root


def _write_image(stem: Path, image: np.ndarray, kind: str) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    if kind == "jpg":
        Image.fromarray(image).save(stem.with_suffix(".jpg"), quality=95)
    elif kind == "grey":
        cv2.imwrite(str(stem.with_suffix(".png")), image[..., 0])
    elif kind == "rgb16":
        cv2.imwrite(str(stem.with_suffix(".png")), image[..., ::-1].astype(np.uint16) * 257)
    elif kind == "rgba":
        rgba = np.concatenate([image, np.full((*image.shape[:2], 1), 128, np.uint8)], -1)
        Image.fromarray(rgba, "RGBA").save(stem.with_suffix(".png"))
    else:
        write_rgb(stem.with_suffix(".png"), image)


def _write_label(path: Path, ids: np.ndarray, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "index16":
        cv2.imwrite(str(path), ids.astype(np.uint16))
    elif kind == "colour":
        colors = np.array([*FOLDER_COLORS, (255, 255, 255)], np.uint8)
        write_rgb(path, colors[ids])
    elif kind == "palette":
        write_palette_label(path, ids, [(v, v, v) for v in range(256)])
    else:
        cv2.imwrite(str(path), ids.astype(np.uint8))


def exif_rotated_jpeg(image: np.ndarray, orientation: int = 6) -> bytes:
    """JPEG bytes of ``image`` with an EXIF orientation tag (6 = rotate 90 degrees clockwise)."""
    pil = Image.fromarray(image)
    exif = pil.getexif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    pil.save(out, "JPEG", exif=exif.tobytes(), quality=100)
    return out.getvalue()
