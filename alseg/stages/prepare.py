"""prepare stage: dataset URI + layout -> prepared dataset folder (see alseg.data.prepared).

Every layout goes through its registered reader (alseg.data.readers): list the splits, decode
each (image, label) pair once to uint8 RGB and class ids (void 255), resize to
``data.image_size`` and write the split arrays.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from alseg.config import DataConfig
from alseg.data import readers
from alseg.data.classes import ClassInfo
from alseg.data.images import resize_pair
from alseg.data.prepared import write_meta
from alseg.storage import atomic_path
from alseg.tables import write_table


def _write_split(
    root: Path,
    reader: readers.Reader,
    split: str,
    samples: list[readers.Sample],
    info: ClassInfo,
    data: DataConfig,
) -> None:
    size = tuple(data.image_size)
    height, width = size
    images = np.lib.format.open_memmap(
        root / f"{split}_images.npy", "w+", np.uint8, (len(samples), height, width, 3)
    )
    labels = np.lib.format.open_memmap(
        root / f"{split}_labels.npy", "w+", np.uint8, (len(samples), height, width)
    )

    def load(i: int) -> None:
        image, label = reader.load(samples[i], info, data)
        images[i], labels[i] = resize_pair(image, label, size, samples[i].image_uri)

    with ThreadPoolExecutor(data.workers) as pool:
        list(pool.map(load, range(len(samples))))
    images.flush()
    labels.flush()


def _table_rows(
    samples_by_split: dict[str, list[readers.Sample]], size: tuple[int, int]
) -> pa.Table:
    rows = [
        {"image_id": s.image_id, "split": split, "index": i, "image_uri": s.image_uri,
         "label_uri": s.label_uri, "height": size[0], "width": size[1]}
        for split, samples in samples_by_split.items()
        for i, s in enumerate(samples)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows)


def run(data: DataConfig, out_dir: str | Path) -> dict:
    """Decode, validate and resize every split into ``out_dir`` (written atomically)."""
    start = time.perf_counter()
    size = tuple(data.image_size)
    reader = readers.get_reader(data.dataset)
    info = reader.class_info(data)
    by_split = readers.list_splits(reader, data)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for split, samples in by_split.items():
            _write_split(tmp, reader, split, samples, info, data)
        sizes = {split: len(samples) for split, samples in by_split.items()}
        write_table(_table_rows(by_split, size), tmp / "images.parquet", "images")
        write_meta(tmp, info.classes, size, sizes)
    return {
        "splits": sizes,
        "classes": info.num_classes,
        "seconds": round(time.perf_counter() - start, 2),
    }


def run_prepare(params: dict, out_dir: str | Path) -> dict:
    """The registry's entry point: ``run`` on the ``data`` section of the stage's params."""
    return run(DataConfig(**params["data"]), out_dir)
