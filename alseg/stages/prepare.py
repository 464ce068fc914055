"""prepare stage: dataset URI + layout -> prepared dataset folder (see alseg.data.prepared)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from alseg.config import DataConfig
from alseg.data import readers
from alseg.data.prepared import write_meta
from alseg.storage import atomic_path
from alseg.tables import write_table

SPLITS = ("train", "val", "test")


def _write_split(
    root: Path,
    split: str,
    samples: list[readers.Sample],
    info: readers.ClassInfo,
    size: tuple[int, int],
    workers: int | None,
) -> None:
    height, width = size
    images = np.lib.format.open_memmap(
        root / f"{split}_images.npy",
        mode="w+",
        dtype=np.uint8,
        shape=(len(samples), height, width, 3),
    )
    labels = np.lib.format.open_memmap(
        root / f"{split}_labels.npy", mode="w+", dtype=np.uint8, shape=(len(samples), height, width)
    )

    def load(i: int) -> None:
        sample = samples[i]
        image = readers.decode_image(sample.image_uri)
        label = readers.decode_label(sample.label_uri, info)
        images[i], labels[i] = readers.resize_pair(image, label, size, sample.image_uri)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(load, range(len(samples))))
    images.flush()
    labels.flush()


def _write_synthetic_split(
    root: Path, split: str, n: int, seed: int, size: tuple[int, int]
) -> None:
    from alseg.data.synthetic import generate_scene

    height, width = size
    images = np.lib.format.open_memmap(
        root / f"{split}_images.npy", "w+", np.uint8, (n, height, width, 3)
    )
    labels = np.lib.format.open_memmap(
        root / f"{split}_labels.npy", "w+", np.uint8, (n, height, width)
    )
    offset = 0 if split == "train" else 1_000_000  # val scenes never repeat train scenes
    for i in range(n):
        image, label = generate_scene(offset + i, seed, height, width)
        label = label.copy()
        label[label == len(_synthetic_classes())] = 255
        images[i], labels[i] = image, label
    images.flush()
    labels.flush()


def _synthetic_classes() -> list[str]:
    from alseg.data.synthetic import SYNTHETIC_CLASSES

    return list(SYNTHETIC_CLASSES)


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
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        if data.dataset == "synthetic":
            classes = _synthetic_classes()
            counts = {"train": data.synthetic.n_train, "val": data.synthetic.n_val}
            by_split = {
                split: [readers.Sample(f"scene_{split}_{i:05d}", split, "", "") for i in range(n)]
                for split, n in counts.items()
            }
            for split, n in counts.items():
                _write_synthetic_split(tmp, split, n, data.synthetic.seed, size)
        else:
            info = readers.read_class_info(data.root, data.classes, data.ignore_index)
            if info is None:
                if data.dataset != "camvid":
                    raise readers.DataError(
                        f"{data.root}: no classes.json and no data.classes given"
                    )
                info = readers.ClassInfo(readers.CAMVID_CLASSES, readers.CAMVID_VOID)
            if info.num_classes > 255:
                raise readers.DataError(f"{data.root}: at most 255 classes supported")
            limits = {
                "train": data.max_train_images,
                "val": data.max_val_images,
                "test": data.max_val_images,
            }
            by_split = {}
            for split in SPLITS:
                if split == "train" or readers.has_split(data.dataset, data.root, split):
                    by_split[split] = readers.list_samples(data.dataset, data.root, split)[
                        : limits[split]
                    ]
            if "val" not in by_split and "test" not in by_split:
                raise readers.DataError(f"{data.root}: no val or test split to evaluate on")
            for split, samples in by_split.items():
                _write_split(tmp, split, samples, info, size, data.workers)
            classes = info.classes
        sizes = {split: len(samples) for split, samples in by_split.items()}
        write_table(_table_rows(by_split, size), tmp / "images.parquet", "images")
        write_meta(tmp, classes, size, sizes)
    return {
        "splits": sizes,
        "classes": len(classes),
        "seconds": round(time.perf_counter() - start, 2),
    }
