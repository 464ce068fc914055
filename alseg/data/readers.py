"""Dataset layouts: one registered ``Reader`` per layout (``data.dataset``).

A reader lists the (image, label) files of a split and says how label values map to classes;
``load`` decodes one pair (alseg.data.images). The layouts themselves live in
``alseg.data.layouts`` (synthetic, camvid, folder), ``alseg.data.voc`` and
``alseg.data.cityscapes``; config validation, ``prepare`` and ``alseg data check`` find them
here. A new layout = a ``Reader`` subclass decorated with ``@register`` in a module listed in
``LAYOUT_MODULES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from alseg import storage
from alseg.data.classes import ClassInfo, ClassSpec, parse_classes_json
from alseg.data.errors import DataError
from alseg.data.images import IMAGE_SUFFIXES, LABEL_SUFFIXES, decode_image, decode_label
from alseg.registry import Registry

if TYPE_CHECKING:
    from alseg.config import DataConfig

__all__ = ["DataError", "Reader", "Sample", "get_reader", "layout_names", "list_splits"]

SPLITS = ("train", "val", "test")  # alseg's split roles; data.splits maps them to dataset names
LAYOUT_MODULES = ("alseg.data.layouts", "alseg.data.voc", "alseg.data.cityscapes")
READERS: Registry[Reader] = Registry("dataset layout", LAYOUT_MODULES, DataError)


@dataclass(frozen=True)
class Sample:
    image_id: str
    split: str
    image_uri: str
    label_uri: str


class Reader:
    """One dataset layout. Subclasses set ``name`` and implement ``class_info``, ``has_split``
    and ``samples``; ``load`` decodes a sample's files."""

    name: ClassVar[str]
    default_splits: ClassVar[dict[str, str]] = {"train": "train", "val": "val", "test": "test"}
    needs_root: ClassVar[bool] = True  # data.root required

    def validate(self, data: DataConfig) -> None:
        """ValueError when ``data`` sets options this layout does not take."""
        if data.train_ids:
            raise ValueError(f"train_ids is a cityscapes option, not one of '{self.name}'")

    def class_info(self, data: DataConfig) -> ClassInfo:
        raise NotImplementedError

    def has_split(self, data: DataConfig, name: str) -> bool:
        raise NotImplementedError

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        """The pairs of the dataset's split ``name`` (playing alseg's ``split``), in a fixed
        order; DataError naming the file for a missing or ambiguous one. With ``problems``
        (``data check``), a pair missing its image or label is recorded there and skipped."""
        raise NotImplementedError

    def load(
        self, sample: Sample, info: ClassInfo, data: DataConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (H, W, 3) and uint8 class ids (H, W) with void 255, at the file's size."""
        image = decode_image(storage.read_bytes(sample.image_uri), sample.image_uri)
        label = decode_label(storage.read_bytes(sample.label_uri), sample.label_uri, info)
        return image, label


def register(cls: type[Reader]) -> type[Reader]:
    READERS[cls.name] = cls()
    return cls


def layout_names() -> list[str]:
    return sorted(READERS.names())


def get_reader(name: str) -> Reader:
    return READERS.lookup(name)


def list_splits(reader: Reader, data: DataConfig) -> dict[str, list[Sample]]:
    """alseg split -> samples (cut to ``max_*_images``). Splits named in ``data.splits`` must
    exist; with the layout's defaults only ``train`` must, and one of val/test."""
    names = data.splits or reader.default_splits
    limits = {"train": data.max_train_images, "val": data.max_val_images,
              "test": data.max_val_images}  # fmt: skip
    by_split = {}
    for split in SPLITS:
        name = names.get(split)
        if name is None:
            continue
        if split == "train" or data.splits or reader.has_split(data, name):
            by_split[split] = reader.samples(data, split, name)[: limits[split]]
            for sample in by_split[split] if data.root else []:  # no symlink or '..' out
                storage.check_within(data.root, sample.image_uri)
                storage.check_within(data.root, sample.label_uri)
    if "val" not in by_split and "test" not in by_split:
        raise DataError(f"{data.root}: no val or test split to evaluate on")
    return by_split


def config_spec(data: DataConfig) -> ClassSpec | None:
    """The class list given in the config (already validated), or None."""
    if data.classes is None:
        return None
    return ClassSpec(classes=data.classes, ignore_index=data.ignore_index,
                     void_classes=data.void_classes, colors=data.colors)  # fmt: skip


def root_spec(root: str, default: ClassSpec | None) -> ClassSpec:
    """``ROOT/classes.json`` when present, else ``default`` (DataError when there is neither)."""
    uri = storage.join(root, "classes.json")
    if storage.exists(uri):
        return parse_classes_json(storage.read_bytes(uri), uri)
    if default is None:
        raise DataError(f"{root}: no classes.json and no data.classes given")
    return default


def stem_index(folder: str, suffixes: tuple[str, ...]) -> dict[str, str]:
    """File stem -> URI of the files directly in ``folder``; DataError naming both files when
    two share a stem (img000.png and img000.jpg)."""
    index: dict[str, str] = {}
    for uri in storage.list_files(folder, suffixes):
        stem = PurePosixPath(uri).stem
        if stem in index:
            raise DataError(f"{uri}: ambiguous name, {index[stem]} has the same stem "
                            "(keep one file per name)")  # fmt: skip
        index[stem] = uri
    return index


def flag(problems: list[str] | None, message: str) -> None:
    """Raise DataError(message), or record it when the caller collects problems."""
    if problems is None:
        raise DataError(message)
    problems.append(message)


def pair_by_stem(
    images_dir: str, labels_dir: str, split: str, problems: list[str] | None = None
) -> list[Sample]:
    """Images of any extension in ``images_dir`` paired with same-stem labels in ``labels_dir``."""
    images = stem_index(images_dir, IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{images_dir}: no images found")
    labels = stem_index(labels_dir, LABEL_SUFFIXES)
    samples = []
    for stem, uri in images.items():
        if stem not in labels:
            flag(problems, f"{uri}: missing label file {storage.join(labels_dir, stem)}.png")
            continue
        samples.append(Sample(stem, split, uri, labels[stem]))
    return samples
