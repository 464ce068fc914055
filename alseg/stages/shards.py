"""Sharded scoring: the shard plan, the pool rows of a shard, and the merge of shard folders.

The score stage runs as a ParallelFor over shards s = 0 .. S-1 (``acquisition.shards``), each
scoring whole batches of the unsharded run: with K = ceil(n / B) batches of B =
``acquisition.batch_size`` images, shard s scores batches [floor(s K / S), floor((s + 1) K / S)),
so every batch (its images, its seed ``seed + start``, its weight in the PixBal prior) is the
one the unsharded run scores. The merge concatenates the shard tables in pool order and
combines the prior from the shards' per-batch means, so select reads exactly the unsharded
folder (``scores.parquet`` + ``meta.json``) whatever S is.

Shard folder: ``scores.parquet`` (one row group per batch) and ``meta.json`` (``num_classes``,
``shard``: index, count, start, stop, images; ``batch_priors``: (K_s, C) float64 per-batch mean
probabilities, or null when the policy needs no prior).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alseg import storage
from alseg.stages.common import read_json, write_json
from alseg.storage import atomic_path
from alseg.tables import SCHEMAS, read_table, write_row_groups


def shard_count(shards: int | str, images_per_shard: int, n_images: int, batch_size: int) -> int:
    """S = ``shards``, or ceil(n / images_per_shard) for ``"auto"``; clipped to [1, K] with
    K = ceil(n / batch_size) batches (a shard holds at least one batch)."""
    wanted = math.ceil(n_images / images_per_shard) if shards == "auto" else int(shards)
    return max(1, min(wanted, math.ceil(n_images / batch_size)))


def shard_rows(n_images: int, batch_size: int, shards: int, index: int) -> slice:
    """Pool rows of shard ``index`` of ``shards``: whole batches [floor(s K / S) B,
    min(floor((s + 1) K / S) B, n)) with K = ceil(n / B)."""
    if not 0 <= index < shards:
        raise ValueError(f"shard {index} is not in 0 .. {shards - 1} (acquisition.shards)")
    batches = math.ceil(n_images / batch_size)
    first, last = index * batches // shards, (index + 1) * batches // shards
    return slice(min(first * batch_size, n_images), min(last * batch_size, n_images))


def pool_size(regions_uri: str) -> int:
    """Images in the pool: the first dimension of ``train_regions.npy`` (its header only)."""
    return len(storage.NpyRows(storage.join(regions_uri, "train_regions.npy")))


def run_plan(params: dict, regions_uri: str) -> dict:
    """The shard plan: {"shards": [0 .. S-1], "count": S, "images": n}; reads the header of the
    region maps only (``regions_uri``: a local folder or an s3:// prefix)."""
    from alseg.config import AcquisitionConfig

    acq = AcquisitionConfig(**params["acquisition"])
    n = pool_size(regions_uri)
    count = shard_count(acq.shards, acq.images_per_shard, n, acq.batch_size)
    return {"shards": list(range(count)), "count": count, "images": n}


class BatchPriors:
    """The per-batch class priors of a shard: ``update(probs (B, C, H, W))`` appends
    mean_(b, x) p_c(b, x) as (C,) float64 (PriorAccumulator's batch mean) to ``means``."""

    def __init__(self) -> None:
        self.means: list[list[float]] = []

    def update(self, probs) -> None:  # probs: torch.Tensor
        from alseg.acquisition.uncertainty import ensure_probs

        ensure_probs(probs)
        self.means.append(probs.mean(dim=(0, 2, 3)).double().tolist())


def merged_prior(batch_priors: Sequence[Sequence[float]]) -> list[float]:
    """rhō = (1/K) sum_k mean-prob_k: float64 sums in batch order, then float32 (as
    ``PriorAccumulator``: the unsharded value, bit for bit)."""
    total = np.asarray(batch_priors[0], np.float64)
    for mean in batch_priors[1:]:
        total = total + np.asarray(mean, np.float64)
    return (total / len(batch_priors)).astype(np.float32).tolist()


def _shard_metas(folders: Sequence[Path], meta_file: str = "meta.json") -> list[tuple[dict, Path]]:
    """(meta, folder) of every shard in pool order; ValueError unless they tile the pool (for
    pseudo shards: the labelled images)."""
    metas = sorted(((read_json(d / meta_file), d) for d in folders),
                   key=lambda m: (m[0]["shard"]["start"], m[0]["shard"]["stop"]))  # fmt: skip
    expected = 0
    for meta, folder in metas:
        shard = meta["shard"]
        if shard["start"] != expected or shard["count"] != len(metas):
            raise ValueError(f"{folder}: shard {shard['index']} of {shard['count']} covers rows "
                             f"{shard['start']}..{shard['stop']}, expected {len(metas)} shards "
                             f"tiling the pool from row {expected}")  # fmt: skip
        expected = shard["stop"]
    pool = metas[0][0]["shard"]["images"]
    if expected != pool:
        raise ValueError(f"shards cover rows 0..{expected} of a pool of {pool} images "
                         "(a shard is missing)")  # fmt: skip
    return metas


def _batches(folders: Sequence[Path]) -> Iterator[pa.Table]:
    """Each shard's row groups (one per scored batch) in pool order."""
    for folder in folders:
        read_table(folder / "scores.parquet", "scores")  # validates kind and columns
        parquet = pq.ParquetFile(folder / "scores.parquet")
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group)


def run_merge(
    params: dict, round_index: int, shards_dir: str | Path | Sequence[str | Path],
    out_dir: str | Path,
) -> dict:  # fmt: skip
    """Merge shard folders into the score folder select reads: ``scores.parquet`` (rows in pool
    order, row groups as the unsharded run's) and ``meta.json`` (num_classes, class_prior)."""
    metas = _shard_metas(_folders(shards_dir))
    priors = [p for meta, _ in metas for p in (meta["batch_priors"] or [])]
    schema = SCHEMAS["scores"].with_metadata({"alseg.table": "scores", "alseg.schema_version": "1"})
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        with pq.ParquetWriter(tmp / "scores.parquet", schema) as writer:
            rows = write_row_groups(writer, _batches([d for _, d in metas]))
        read_table(tmp / "scores.parquet", "scores")
        prior = merged_prior(priors) if priors else None
        write_json(tmp / "meta.json", {"num_classes": metas[0][0]["num_classes"],
                                       "class_prior": prior})  # fmt: skip
    return {"round": round_index, "shards": len(metas), "regions_scored": rows}


def _folders(shards_dir: str | Path | Sequence[str | Path]) -> list[Path]:
    """One shard folder or several (``dsl.Collected``); ValueError for none."""
    single = isinstance(shards_dir, str | Path)
    folders = [Path(shards_dir)] if single else [Path(d) for d in shards_dir]
    if not folders:
        raise ValueError("merge: no shard folders")
    return folders


def run_merge_pseudo(
    params: dict, round_index: int, shards_dir: str | Path | Sequence[str | Path],
    out_dir: str | Path,
) -> dict:  # fmt: skip
    """Join pseudo shard folders (``pseudo_stage.run_pseudo``) into the folder the stage-2
    retrain reads: ``targets.npy`` / ``target_images.npy`` / ``coverage.parquet`` in the order
    of the labelled images, and ``summary.json`` over all of them (as one unsharded task's)."""
    metas = _shard_metas(_folders(shards_dir), "summary.json")
    folders = [folder for _, folder in metas]
    targets = np.concatenate([np.load(d / "targets.npy") for d in folders])
    coverage = pa.concat_tables([pq.read_table(d / "coverage.parquet") for d in folders])
    summary = {
        "round": round_index, "clicks": metas[0][0]["clicks"],
        **pseudo_summary(coverage, targets.size), "shards": len(metas),
        "seconds": round(sum(meta["seconds"] for meta, _ in metas), 2),
    }  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "targets.npy", targets)
        np.save(
            tmp / "target_images.npy",
            np.concatenate([np.load(d / "target_images.npy") for d in folders]),
        )
        pq.write_table(coverage, tmp / "coverage.parquet")
        write_json(tmp / "summary.json", summary)
    return summary


def pseudo_summary(coverage: pa.Table, pixels: int) -> dict:
    """Images, pseudo-labelled pixels, their accuracy against ground truth and their share of
    the ``pixels`` of the labelled images, from the per-image ``coverage`` table."""
    labelled = int(pc.sum(coverage["labelled_pixels"]).as_py() or 0)
    correct = int(pc.sum(coverage["correct_pixels"]).as_py() or 0)
    return {
        "images": len(coverage),
        "pseudo_pixels": labelled,
        "pseudo_pixel_accuracy": float(correct / max(labelled, 1)),
        "pseudo_coverage_pct": 100.0 * labelled / max(pixels, 1),
    }
