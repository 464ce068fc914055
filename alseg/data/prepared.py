"""The prepared dataset: every split decoded once at the working resolution.

Folder layout written by the prepare stage and read by every later stage:

- ``meta.json``: classes, num_classes, image_size, splits and their sizes.
- ``images.parquet``: the images table (DESIGN.md section 3).
- ``{split}_images.npy`` uint8 (N, H, W, 3) RGB and ``{split}_labels.npy`` uint8 (N, H, W) with
  void = 255, memory-mapped on read so memory does not grow with the pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alseg import storage
from alseg.tables import read_table

EVAL_SPLITS = ("test", "val")  # evaluate on test when present, else val (DESIGN.md section 7)


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared folder: a local path or an s3:// prefix. Each file is fetched when first asked
    for (``storage.local_path``: the path itself, or one cached download of that object), so a
    stage that reads one split moves only that split."""

    root: str
    classes: list[str]
    image_size: tuple[int, int]
    split_sizes: dict[str, int]

    @classmethod
    def open(cls, root: str | Path) -> PreparedDataset:
        root = str(root)
        try:
            meta = json.loads(storage.read_bytes(storage.join(root, "meta.json")))
        except storage.StorageError:
            raise FileNotFoundError(f"{root}: not a prepared dataset (no meta.json)") from None
        return cls(root, meta["classes"], tuple(meta["image_size"]), meta["split_sizes"])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def eval_split(self) -> str:
        return next(s for s in (*EVAL_SPLITS, "train") if self.split_sizes.get(s))

    def file(self, name: str) -> Path:
        """The local file of ``name`` in the folder (downloaded once from S3)."""
        return storage.local_path(storage.join(self.root, name))

    def images(self, split: str) -> np.ndarray:
        """uint8 (N, H, W, 3), memory-mapped."""
        return np.load(self.file(f"{split}_images.npy"), mmap_mode="r")

    def labels(self, split: str) -> np.ndarray:
        """uint8 (N, H, W), void = 255, memory-mapped."""
        return np.load(self.file(f"{split}_labels.npy"), mmap_mode="r")

    def rows(self, name: str) -> storage.NpyRows:
        """The ``.npy`` file ``name`` read by rows (ranged reads: a few images of a split)."""
        return storage.NpyRows(storage.join(self.root, name))

    def table(self):  # -> pa.Table
        return read_table(self.file("images.parquet"), "images")


def write_meta(root: Path, classes: list[str], image_size: tuple[int, int], sizes: dict) -> None:
    meta = {"classes": classes, "image_size": list(image_size), "split_sizes": sizes}
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
