"""Cityscapes layout (gtFine)::

    ROOT/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    ROOT/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png
    ROOT/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelTrainIds.png   (data.train_ids)

labelIds 0..33 map to the 19 training classes (cityscapesScripts' ``labels.py``), every other
labelId in the table to void; a labelId outside 0..33 rejects the file. With ``train_ids: true``
the ``labelTrainIds`` files (0..18, 255 void) are read as they are. The test split's labels are
withheld by the benchmark, so the default splits are train and val.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from alseg import IGNORE, storage
from alseg.data.classes import ClassInfo
from alseg.data.errors import DataError
from alseg.data.readers import Reader, Sample, flag, register

if TYPE_CHECKING:
    from alseg.config import DataConfig

CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
]  # fmt: skip
# labelId -> trainId for the 19 evaluated classes; the other labelIds 0..33 are void
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
NUM_LABEL_IDS = 34
IMAGE_SUFFIX = "_leftImg8bit.png"


def label_id_mapping() -> dict[int, int]:
    """labelId (0..33) -> trainId (0..18) or 255."""
    return {raw: LABEL_TO_TRAIN.get(raw, IGNORE) for raw in range(NUM_LABEL_IDS)}


def _subfolders(uri: str) -> list[str]:
    """Sorted URIs of the folders directly under ``uri`` (local path or s3:// prefix)."""
    if not storage.is_s3(uri):
        folder = Path(uri)
        if not folder.is_dir():
            raise storage.StorageError(f"{uri}: folder not found")
        return [str(p) for p in sorted(folder.iterdir()) if p.is_dir()]
    bucket, prefix = storage.split_s3(uri.rstrip("/") + "/")
    client = storage.s3_client()
    paginator = client.get_paginator("list_objects_v2")
    pages = storage._s3_call(  # boto3 errors -> StorageError naming the URI
        uri, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"))
    )
    prefixes = sorted(p["Prefix"] for page in pages for p in page.get("CommonPrefixes", []))
    return [f"s3://{bucket}/{p.rstrip('/')}" for p in prefixes]


@register
class CityscapesReader(Reader):
    name = "cityscapes"
    default_splits = {"train": "train", "val": "val"}

    def validate(self, data: DataConfig) -> None:
        if data.classes is not None:
            raise ValueError("cityscapes has fixed classes (the 19 training classes); drop classes")

    def class_info(self, data: DataConfig) -> ClassInfo:
        if data.train_ids:
            mapping = {raw: raw for raw in range(len(CITYSCAPES_CLASSES))} | {IGNORE: IGNORE}
            return ClassInfo.from_mapping(CITYSCAPES_CLASSES, mapping, "0..18 (void id 255)")
        return ClassInfo.from_mapping(
            CITYSCAPES_CLASSES, label_id_mapping(), "the Cityscapes labelId mapping 0..33"
        )

    def has_split(self, data: DataConfig, name: str) -> bool:
        return storage.exists(storage.join(data.root, "leftImg8bit", name))

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        suffix = "_gtFine_labelTrainIds.png" if data.train_ids else "_gtFine_labelIds.png"
        images_root = storage.join(data.root, "leftImg8bit", name)
        samples = []
        for city_dir in _subfolders(images_root):
            city = PurePosixPath(city_dir).name
            labels_dir = storage.join(data.root, "gtFine", name, city)
            has_labels = storage.exists(labels_dir)
            labels = set(storage.list_files(labels_dir, (suffix.lower(),))) if has_labels else set()
            for uri in storage.list_files(city_dir, (IMAGE_SUFFIX.lower(),)):  # lower-cased match
                stem = PurePosixPath(uri).name[: -len(IMAGE_SUFFIX)]
                label = storage.join(labels_dir, stem + suffix)
                if label not in labels:
                    flag(problems, f"{uri}: missing label file {label}")
                    continue
                samples.append(Sample(stem, split, uri, label))
        if not samples:
            raise DataError(f"{images_root}: no *{IMAGE_SUFFIX} images found")
        return samples
