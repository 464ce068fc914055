"""The built-in layouts: ``synthetic`` (generated scenes), ``camvid`` and ``folder``.

- ``camvid``: ``ROOT/{split}/NAME.*`` with labels ``ROOT/{split}annot/NAME.png``; 11 classes,
  void id 11 (a ``classes.json`` in ROOT, or ``data.classes``, overrides them).
- ``folder``: ``ROOT/images/{split}/NAME.*`` with labels ``ROOT/labels/{split}/NAME.png`` (8/16-bit
  ids, palette or colour PNGs); classes from ``data.classes`` or ``ROOT/classes.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from alseg import IGNORE, storage
from alseg.data.classes import ClassInfo, ClassSpec
from alseg.data.readers import Reader, Sample, config_spec, pair_by_stem, register, root_spec

if TYPE_CHECKING:
    from alseg.config import DataConfig

CAMVID_CLASSES = [
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
]  # fmt: skip
CAMVID_VOID = 11


@register
class SyntheticReader(Reader):
    """Generated road scenes (alseg.data.synthetic), drawn at ``data.image_size``; no files."""

    name = "synthetic"
    default_splits = {"train": "train", "val": "val"}
    needs_root = False

    def validate(self, data: DataConfig) -> None:
        super().validate(data)
        if data.classes is not None or data.splits is not None:
            raise ValueError("the synthetic dataset has fixed classes and splits")

    def class_info(self, data: DataConfig) -> ClassInfo:
        from alseg.data.synthetic import SYNTHETIC_CLASSES

        classes = list(SYNTHETIC_CLASSES)
        return ClassInfo.from_spec(ClassSpec(classes=classes, ignore_index=len(classes)))

    def has_split(self, data: DataConfig, name: str) -> bool:
        return True

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        n = data.synthetic.n_train if split == "train" else data.synthetic.n_val
        return [Sample(f"scene_{split}_{i:05d}", split, "", "") for i in range(n)]

    def load(
        self, sample: Sample, info: ClassInfo, data: DataConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scene i of its split at ``data.image_size`` (val scenes never repeat train scenes)."""
        from alseg.data.synthetic import generate_scene

        offset = 0 if sample.split == "train" else 1_000_000
        index = offset + int(sample.image_id.rsplit("_", 1)[1])
        image, label = generate_scene(index, data.synthetic.seed, *data.image_size)
        return image, np.where(label == info.num_classes, np.uint8(IGNORE), label).astype(np.uint8)


@register
class CamvidReader(Reader):
    name = "camvid"

    def class_info(self, data: DataConfig) -> ClassInfo:
        default = ClassSpec(classes=CAMVID_CLASSES, ignore_index=CAMVID_VOID)
        return ClassInfo.from_spec(config_spec(data) or root_spec(data.root, default))

    def has_split(self, data: DataConfig, name: str) -> bool:
        return storage.exists(storage.join(data.root, name))

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        root = data.root
        images, labels = storage.join(root, name), storage.join(root, f"{name}annot")
        return pair_by_stem(images, labels, split, problems)


@register
class FolderReader(Reader):
    name = "folder"

    def class_info(self, data: DataConfig) -> ClassInfo:
        return ClassInfo.from_spec(config_spec(data) or root_spec(data.root, None))

    def has_split(self, data: DataConfig, name: str) -> bool:
        return storage.exists(storage.join(data.root, "images", name))

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        images, labels = (storage.join(data.root, kind, name) for kind in ("images", "labels"))
        return pair_by_stem(images, labels, split, problems)
