"""regions stage: prepared dataset -> region maps of the training pool + regions table.

Output folder: ``train_regions.npy`` int32 (N, H, W) (one region map per image, ids contiguous
per image), ``regions.parquet`` (regions table) and ``meta.json``.

Pixel regions (PixelPick) are implicit: the map holds the flat id y * W + x of every pixel whose
ground truth is not void and -1 on void (void is never queried, ALGORITHMS.md 2.3), and the
regions table stays empty (one row per pixel would be millions of rows saying nothing).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from alseg import IGNORE, regions, storage
from alseg.config import DataConfig, RegionConfig
from alseg.data.prepared import PreparedDataset
from alseg.labels import region_meta
from alseg.storage import atomic_path
from alseg.tables import empty_table, write_table


def method_params(region: RegionConfig, height: int, width: int) -> dict:
    """Arguments of alseg.regions for the configured method at a compute resolution."""
    if region.type == "grid":
        return {"cell": region.size}
    if region.type == "slic":
        return {"region_size": region.size, "ruler": region.slic_ruler}
    seeds = region.seeds.model_dump()
    n = seeds.pop("num_superpixels") or round(1.5 * height * width / region.size**2)
    return {"num_superpixels": n, **seeds}


def region_rows(maps: np.ndarray) -> pa.Table:
    """Regions table of all images (image_index, region_id, n_pixels, bbox, neighbors)."""
    parts = []
    for index, region_map in enumerate(maps):
        table = regions.region_table(np.asarray(region_map))
        n = len(table["region_id"])
        parts.append(
            pa.table({
                "image_index": np.full(n, index, np.int32),
                "region_id": table["region_id"], "n_pixels": table["n_pixels"],
                "y0": table["y0"], "x0": table["x0"], "y1": table["y1"], "x1": table["x1"],
                "neighbors": pa.array([np.asarray(v, np.int32) for v in table["neighbors"]],
                                      pa.list_(pa.int32())),
            })
        )  # fmt: skip
    return pa.concat_tables(parts)


def pixel_region_maps(labels: np.ndarray) -> np.ndarray:
    """labels uint8 (N, H, W) (void = 255) -> int32 (N, H, W): y * W + x, or -1 on void."""
    _, height, width = labels.shape
    flat = np.arange(height * width, dtype=np.int32).reshape(height, width)
    return np.where(np.asarray(labels) == IGNORE, np.int32(-1), flat[None])


def run(
    region: RegionConfig, prepared_dir: str | Path, out_dir: str | Path, workers: int | None = None
) -> dict:
    start = time.perf_counter()
    data = PreparedDataset.open(prepared_dir)
    height, width = data.image_size
    if region.type == "pixel":
        maps = pixel_region_maps(data.labels("train"))
        meta = _meta("pixel", {}, (maps >= 0).sum(axis=(1, 2)))
        _write(out_dir, maps, empty_table("regions"), meta)
        return {**meta, "seconds": round(time.perf_counter() - start, 2)}
    if region.full_resolution:
        table = data.table()
        uris = [
            u
            for u, split in zip(
                table["image_uri"].to_pylist(), table["split"].to_pylist(), strict=True
            )
            if split == "train"
        ]
        if not all(uris):
            raise ValueError("region.full_resolution needs image files (not the synthetic dataset)")
        sources = [str(storage.local_path(u)) for u in uris]
        full_h, full_w = cv2.imread(sources[0], cv2.IMREAD_UNCHANGED).shape[:2]
        params = method_params(region, full_h, full_w)  # all images share the first one's size
    else:
        sources = data.images("train")
        params = method_params(region, height, width)
    maps = regions.compute_region_maps(sources, region.type, params, (height, width), workers)
    table = region_rows(maps)
    meta = _meta(region.type, params,
                 np.bincount(table["image_index"].to_numpy(), minlength=len(maps)))  # fmt: skip
    _write(out_dir, maps, table, meta)
    return {**meta, "seconds": round(time.perf_counter() - start, 2)}


def run_regions(params: dict, prepared_dir: str | Path, out_dir: str | Path) -> dict:
    """The registry's entry point: ``run`` on the ``region`` section, with ``data.workers``."""
    workers = DataConfig(**params["data"]).workers
    return run(RegionConfig(**params["region"]), prepared_dir, out_dir, workers)


def _meta(method: str, params: dict, counts: np.ndarray) -> dict:
    """meta.json: the method, its parameters and the regions per image (counts (N,))."""
    return {"method": method, "params": params, "n_regions": int(counts.sum()),
            "max_regions_per_image": int(counts.max()),
            "mean_regions_per_image": float(counts.mean())}  # fmt: skip


def _write(out_dir: str | Path, maps: np.ndarray, table: pa.Table, meta: dict) -> None:
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "train_regions.npy", maps.astype(np.int32))
        write_table(table, tmp / "regions.parquet", "regions")
        # region_ids: max id + 1, the score stage's per-image table width (shards read no maps)
        meta = {**meta, "region_ids": int(maps.max(initial=-1)) + 1}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


def is_pixel_pool(regions_dir: str | Path) -> bool:
    """True when the regions folder holds pixel regions (PixelPick)."""
    return region_meta(regions_dir)["method"] == "pixel"
