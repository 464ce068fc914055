"""``alseg data check``: read every file of a dataset once and summarise it, without a run.

Lines: the layout and classes, then per split the image count, the image sizes and the class
pixel frequencies (labels at file resolution, void included), the training classes never seen,
and one ``problem:`` line per bad file or split.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from alseg import IGNORE
from alseg.config import DataConfig
from alseg.data.classes import ClassInfo
from alseg.data.errors import DataError
from alseg.data.readers import SPLITS, Reader, Sample, get_reader
from alseg.storage import StorageError

MAX_SIZES_SHOWN = 4


@dataclass
class SplitStats:
    """What one pass over a split's files found."""

    images: int = 0
    sizes: Counter = field(default_factory=Counter)  # (H, W) -> images
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))  # per class id
    problems: list[str] = field(default_factory=list)


def _read_one(reader: Reader, sample: Sample, info: ClassInfo, data: DataConfig) -> tuple:
    """(image (H, W), class-id histogram (256,)) or (None, problem)."""
    try:
        image, label = reader.load(sample, info, data)
    except (DataError, StorageError) as err:
        return None, str(err)
    if image.shape[:2] != label.shape:
        return None, f"{sample.image_uri}: image {image.shape[:2]} and label {label.shape} differ"
    return image.shape[:2], np.bincount(label.ravel(), minlength=256)


def scan_split(
    reader: Reader, samples: list[Sample], info: ClassInfo, data: DataConfig
) -> SplitStats:
    """Decode every pair of a split once (in parallel over ``data.workers`` threads)."""
    stats = SplitStats(images=len(samples))
    with ThreadPoolExecutor(data.workers) as pool:
        for shape, result in pool.map(lambda s: _read_one(reader, s, info, data), samples):
            if shape is None:
                stats.problems.append(result)
            else:
                stats.sizes[shape] += 1
                stats.pixels += result
    return stats


def frequency_line(split: str, pixels: np.ndarray, classes: list[str]) -> str:
    """'class pixels train: road 41.2%, ..., void 5.0%' (classes by decreasing share)."""
    total = max(int(pixels.sum()), 1)
    shares = [(name, pixels[i] / total) for i, name in enumerate(classes)]
    shares.sort(key=lambda item: -item[1])
    parts = [f"{name} {share:.1%}" for name, share in shares]
    return f"class pixels {split}: {', '.join(parts)}, void {pixels[IGNORE] / total:.1%}"


def sizes_line(split: str, sizes: Counter) -> str:
    """'image sizes val: 375x500 (x3), 333x500 (x1)' as H x W, most common first."""
    shown = [f"{h}x{w} (x{n})" for (h, w), n in sizes.most_common(MAX_SIZES_SHOWN)]
    more = len(sizes) - MAX_SIZES_SHOWN
    return f"image sizes {split}: {', '.join(shown) or '-'}" + (
        f" (+{more} more)" if more > 0 else ""
    )


def check_dataset(data: DataConfig) -> tuple[list[str], int]:
    """Report lines and the number of problems found."""
    lines, problems = [], []
    reader = get_reader(data.dataset)
    try:
        info = reader.class_info(data)
    except (DataError, StorageError) as err:
        return [f"problem: {err}"], 1
    lines.append(f"dataset {data.dataset} at {data.root or '(generated)'}: {info.num_classes} "
                 f"classes: {', '.join(info.classes)}")  # fmt: skip
    names = data.splits or reader.default_splits
    train_pixels = None
    for split in SPLITS:
        if split not in names:
            continue
        name = names[split]
        if split != "train" and data.splits is None and not reader.has_split(data, name):
            continue
        try:
            samples = reader.samples(data, split, name, problems)
        except (DataError, StorageError) as err:
            problems.append(str(err))
            continue
        stats = scan_split(reader, samples, info, data)
        problems.extend(stats.problems)
        lines.append(f"split {split} ({name}): {stats.images} images")
        lines.append(sizes_line(split, stats.sizes))
        lines.append(frequency_line(split, stats.pixels, info.classes))
        if split == "train":
            train_pixels = stats.pixels
    if not any(line.startswith(("split val", "split test")) for line in lines):
        problems.append(f"{data.root}: no val or test split to evaluate on")
    if train_pixels is not None:
        absent = [c for i, c in enumerate(info.classes) if train_pixels[i] == 0]
        if absent:
            lines.append(f"classes absent from train: {', '.join(absent)}")
    lines += [f"problem: {p}" for p in problems]
    lines.append(f"{len(problems)} problem(s)" if problems else "no problems")
    return lines, len(problems)
