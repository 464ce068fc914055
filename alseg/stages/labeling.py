"""init, select and oracle stages: the labelled state of the pool, round by round.

Folders:
- init: ``costs.npy`` int32 (one click cost per row of the regions table, for the configured
  label type, computed from ground truth as the simulated annotator would charge it),
  ``queries.parquet`` (round 0, random), ``meta.json`` (pool cost).
- select: ``queries.parquet``.
- oracle: ``labels.parquet`` (cumulative, append-only), ``targets.npy`` uint8 (K, H, W) training
  targets of the K labelled images (255 = no label), ``target_images.npy`` int32 (K,),
  ``summary.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alseg import IGNORE, oracle
from alseg.acquisition.oreal import (
    items_per_class,
    labelled_class_counts,
    oreal_select,
    oreal_select_weak,
)
from alseg.acquisition.policies import region_scores
from alseg.acquisition.select import random_scores, select_under_budget
from alseg.config import LabelConfig, round_clicks
from alseg.data.prepared import PreparedDataset
from alseg.stages import pixels
from alseg.stages.common import read_json, region_keys, round_seed, write_json
from alseg.stages.regions import is_pixel_pool
from alseg.storage import atomic_path
from alseg.tables import empty_table, queries_table, read_table, write_table


def _regions(regions_dir: Path) -> tuple[pa.Table, np.ndarray]:
    return read_table(regions_dir / "regions.parquet", "regions"), np.load(
        regions_dir / "train_regions.npy", mmap_mode="r"
    )


def annotate_regions(
    label: dict, gt: np.ndarray, region_map: np.ndarray, n_regions: int, num_classes: int
) -> tuple[np.ndarray, pa.ListArray, np.ndarray]:
    """What the simulated annotator gives for every region of one image.

    Returns dominant (R,) int16 (-1 = void-dominant), classes (list<int16> of R class lists:
    the multi-class label,
    after boundary trimming; with ``void: undefined`` the id ``num_classes`` marks void) and
    cost (R,) clicks for ``label["type"]``.
    """
    counts = oracle.region_class_counts(gt, region_map, n_regions, num_classes, IGNORE)
    dominant = oracle.dominant_labels(counts)
    listed = counts
    if label["type"] == "multiclass" and label["trim_kernel"]:
        listed = oracle.region_class_counts_trimmed(
            gt, region_map, n_regions, num_classes, IGNORE, kernel=label["trim_kernel"]
        )
    if label["void"] == "undefined":
        multihot = oracle.multiclass_labels_with_undefined(listed)
    else:
        multihot = oracle.multiclass_labels(listed)
    rows, cols = np.nonzero(multihot)
    offsets = np.searchsorted(rows, np.arange(n_regions + 1)).astype(np.int32)
    classes = pa.ListArray.from_arrays(offsets, pa.array(cols.astype(np.int16)))
    cost = {
        "dominant": np.ones(n_regions, np.int32),
        "multiclass": multihot.sum(1).astype(np.int32),
        "full": counts.sum(1).astype(np.int32),
    }[label["type"]]
    return dominant, classes, cost


def label_settings(params: dict) -> dict:
    """The ``label`` section with defaults filled in (validated)."""
    return LabelConfig(**params["label"]).model_dump()


def region_costs(label: dict, prepared_dir: Path, regions_dir: Path) -> np.ndarray:
    """Click cost of every region (regions-table order) under the label settings."""
    table, maps = _regions(regions_dir)
    if label["type"] == "dominant":
        return np.ones(len(table), np.int32)
    if label["type"] == "full":
        return table["n_pixels"].to_numpy().astype(np.int32)
    data = PreparedDataset.open(prepared_dir)
    gt = data.labels("train")
    per_image = np.bincount(table["image_index"].to_numpy(), minlength=len(maps))
    return np.concatenate([
        annotate_regions(label, gt[i], maps[i], int(per_image[i]), data.num_classes)[2]
        for i in range(len(maps))
    ])  # fmt: skip


def _queries(
    round_index: int, table: pa.Table, picked: np.ndarray, scores: np.ndarray, costs: np.ndarray
) -> pa.Table:
    image_index, region_id = table["image_index"].to_numpy(), table["region_id"].to_numpy()
    return queries_table(
        round_index, image_index[picked], region_id[picked], scores[picked], costs[picked]
    )


def whole_image_rows(
    image_index: np.ndarray, n_images: int, fraction: float, seed: int
) -> np.ndarray:
    """Rows of every region of max(1, round(fraction x n_images)) images drawn uniformly
    (seeded): round 0 of ``budget.initial_images`` (S4AL: 10% of the images, fully labelled)."""
    n = max(1, round(fraction * n_images))
    images = np.random.default_rng(seed).permutation(n_images)[:n]
    return np.flatnonzero(np.isin(image_index, images))


def run_init(
    params: dict, prepared_dir: str | Path, regions_dir: str | Path, out_dir: str | Path
) -> dict:
    """Round 0: price every region, then pick round 0's clicks (``budget.initial_clicks`` or
    ``budget.schedule[0]``) worth at random, or every region of ``budget.initial_images`` of
    the images."""
    prepared_dir, regions_dir = Path(prepared_dir), Path(regions_dir)
    table, maps = _regions(regions_dir)
    budget, label_type = params["budget"], params["label"]["type"]
    clicks = round_clicks(budget, 0, spent=0)
    if is_pixel_pool(regions_dir):  # every non-void pixel costs one click
        costs = np.zeros(0, np.int32)
        pool_cost = int(np.count_nonzero(np.asarray(maps) >= 0))
        queries = pixels.initial_queries(maps, clicks, round_seed(params["seed"], 0))
    else:
        costs = region_costs(label_settings(params), prepared_dir, regions_dir)
        pool_cost = int(costs.sum())
        scores = random_scores(len(table), round_seed(params["seed"], 0))
        if budget.get("initial_images"):  # whole images (S4AL's initial set)
            index = table["image_index"].to_numpy()
            seed = round_seed(params["seed"], 0)
            picked = whole_image_rows(index, len(maps), budget["initial_images"], seed)
        else:
            picked = select_under_budget(scores, costs, clicks, overshoot=budget["overshoot"])
        queries = _queries(0, table, picked, scores, costs)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "costs.npy", costs)
        write_table(queries, tmp / "queries.parquet", "queries")
        write_json(tmp / "meta.json", {"pool_cost": pool_cost, "label_type": label_type})
    warn_budget_over_pool(budget, pool_cost)
    spent = int(np.sum(queries["cost"].to_numpy()))
    return {"round": 0, "selected": len(queries), "clicks": spent}


def warn_budget_over_pool(budget: dict, pool_cost: int) -> str | None:
    """Print (and return) a warning line when the run's clicks exceed the pool's cost: the
    last labelled round is budget.schedule[-1] or initial + (rounds - 1) x clicks_per_round
    (no ``rounds``: round 0 alone)."""
    rounds, per_round = budget.get("rounds", 1), budget.get("clicks_per_round", 0)
    schedule = budget.get("schedule")
    total = schedule[-1] if schedule else budget["initial_clicks"] + (rounds - 1) * per_round
    if total <= pool_cost:
        return None
    line = (f"[alseg] warning: budget of {total} clicks exceeds the pool's cost of {pool_cost} "
            "clicks; rounds after the pool is exhausted label nothing")  # fmt: skip
    print(line, flush=True)
    return line


def labeled_mask(table: pa.Table, labels: pa.Table) -> np.ndarray:
    """bool (n_regions,) over regions-table rows: already labelled."""
    stride = int(table["region_id"].to_numpy().max()) + 1
    keys = region_keys(table["image_index"].to_numpy(), table["region_id"].to_numpy(), stride)
    done = region_keys(labels["image_index"].to_numpy(), labels["region_id"].to_numpy(), stride)
    return np.isin(keys, done)


def table_rows(table: pa.Table, other: pa.Table) -> np.ndarray:
    """Row of ``table`` (regions table) for each (image_index, region_id) row of ``other``."""
    stride = int(table["region_id"].to_numpy().max()) + 1
    keys = region_keys(table["image_index"].to_numpy(), table["region_id"].to_numpy(), stride)
    order = np.argsort(keys)
    wanted = region_keys(other["image_index"].to_numpy(), other["region_id"].to_numpy(), stride)
    return order[np.searchsorted(keys[order], wanted)]


def _pool_statistics(table: pa.Table, scores_dir: Path) -> dict[str, np.ndarray]:
    """The scores table's columns aligned with the regions table's rows (missing -> NaN / -1)."""
    scored = read_table(scores_dir / "scores.parquet", "scores")
    rows = table_rows(table, scored)
    score = np.full(len(table), np.nan, np.float32)
    score[rows] = scored["score"].to_numpy()
    pred_class = np.full(len(table), -1, np.int64)
    pred_class[rows] = scored["pred_class"].to_numpy()
    width = len(scored["vector"][0]) if len(scored) else 0
    vector = np.full((len(table), width), np.nan, np.float32)
    if width:
        vector[rows] = scored["vector"].combine_chunks().flatten().to_numpy().reshape(-1, width)
    return {"score": score, "pred_class": pred_class, "vector": vector}


def labelled_class_counts_of(labels: pa.Table, num_classes: int) -> np.ndarray:
    """n_c: labelled regions whose label holds class c (the dominant class under dominant labels,
    every class present otherwise) -> (C,) int64."""
    if len(labels) and labels["label_type"][0].as_py() == "dominant":
        dominant = labels["dominant"].to_numpy().astype(np.int64)
        return labelled_class_counts(dominant[dominant >= 0], num_classes)
    return labelled_class_counts(multihot_labels(labels, num_classes), num_classes)


def multihot_labels(labels: pa.Table, num_classes: int) -> np.ndarray:
    """bool (N, num_classes) of the labels table's class lists (ids >= num_classes, i.e. the
    'undefined' void class, are dropped unless num_classes covers them)."""
    classes = labels["classes"].combine_chunks()
    ids = classes.flatten().to_numpy().astype(np.int64)
    parent = pc.list_parent_indices(classes).to_numpy()
    keep = ids < num_classes
    multihot = np.zeros((len(labels), num_classes), bool)
    multihot[parent[keep], ids[keep]] = True
    return multihot


def run_select(
    params: dict,
    round_index: int,
    scores_dir: str | Path,
    init_dir: str | Path,
    labels_dir: str | Path,
    regions_dir: str | Path,
    out_dir: str | Path,
) -> dict:
    """Rank unlabelled regions with the policy and take them until the click budget is spent.

    OREAL picks per class (ItemsPerClass from the labelled class counts); every other policy
    ranks one score per region (alseg.acquisition.policies.region_scores). Pixel pools draw
    each image's share uniformly among its scored candidates (PixelPick).
    """
    labels = read_table(Path(labels_dir) / "labels.parquet", "labels")
    budget = params["budget"]
    clicks = round_clicks(budget, round_index, spent=int(pc.sum(labels["cost"]).as_py() or 0))
    if is_pixel_pool(regions_dir):
        scored = read_table(Path(scores_dir) / "scores.parquet", "scores")
        seed = round_seed(params["seed"], round_index, salt=4)
        queries = pixels.select_queries(scored, round_index, clicks, seed)
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            write_table(queries, tmp / "queries.parquet", "queries")
        return {"round": round_index, "selected": len(queries), "clicks": len(queries),
                "eligible": len(scored)}  # fmt: skip
    table, _ = _regions(Path(regions_dir))
    pool = _pool_statistics(table, Path(scores_dir))
    meta = read_json(Path(scores_dir) / "meta.json")
    costs = np.load(Path(init_dir) / "costs.npy")
    labelled = labeled_mask(table, labels)
    eligible = ~labelled & ~np.isnan(pool["score"])
    acquisition = params["acquisition"]
    counts = labelled_class_counts_of(labels, meta["num_classes"])
    background = acquisition["background_class"]
    if acquisition["policy"] == "oreal":
        if params["label"]["type"] == "dominant":
            delta = items_per_class(counts, clicks, background)
            picked = oreal_select(pool["vector"], delta, eligible)
        else:
            picked = oreal_select_weak(pool["vector"], eligible, costs, clicks, counts, background)
        scores = np.nan_to_num(pool["score"])
    else:
        scores = region_scores(
            acquisition["policy"], pool["score"], pool["vector"], pool["pred_class"], labelled,
            counts, clicks, meta["class_prior"], acquisition["nu"], acquisition["cbal_lambda"],
            background,
        ).astype(np.float32)  # fmt: skip
        picked = select_under_budget(scores, costs, clicks, eligible=eligible,
                                     overshoot=budget["overshoot"])  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_table(
            _queries(round_index, table, picked, scores, costs), tmp / "queries.parquet", "queries"
        )
    return {
        "round": round_index,
        "selected": len(picked),
        "clicks": int(costs[picked].sum()),
        "eligible": int(eligible.sum()),
    }


def _answer(
    label: dict,
    queries: pa.Table,
    gt: np.ndarray,
    maps: np.ndarray,
    per_image: np.ndarray,
    num_classes: int,
) -> pa.Table:
    """Label rows for the queried regions, from ground truth (one pass per queried image)."""
    image_index = queries["image_index"].to_numpy()
    region_id = queries["region_id"].to_numpy()
    dominant = np.empty(len(queries), np.int16)
    answered_rows, class_lists = [], []
    for rows in _rows_by_image(image_index):
        index = image_index[rows[0]]
        answers = annotate_regions(label, gt[index], maps[index], int(per_image[index]),
                                   num_classes)  # fmt: skip
        dominant[rows] = answers[0][region_id[rows]]
        answered_rows.append(rows)
        class_lists.append(answers[1].take(region_id[rows]))
    order = np.argsort(np.concatenate(answered_rows)) if answered_rows else np.zeros(0, np.int64)
    classes = (pa.concat_arrays(class_lists).take(order) if class_lists
               else pa.array([], pa.list_(pa.int16())))  # fmt: skip
    return _label_rows(label["type"], queries, dominant, classes)


def _label_rows(label_type: str, queries: pa.Table, dominant: np.ndarray,
                classes: pa.ListArray) -> pa.Table:  # fmt: skip
    return pa.table({
        "round": queries["round"], "image_index": queries["image_index"],
        "region_id": queries["region_id"], "label_type": pa.array([label_type] * len(queries)),
        "dominant": dominant, "classes": classes, "cost": queries["cost"],
    })  # fmt: skip


def _rows_by_image(image_index: np.ndarray) -> list[np.ndarray]:
    """Row indices grouped by image (images ascending), from one stable sort."""
    order = np.argsort(image_index, kind="stable")
    starts = np.flatnonzero(np.diff(image_index[order], prepend=-1))
    return np.split(order, starts[1:]) if len(order) else []


def render_targets(
    label_type: str, labels: pa.Table, gt: np.ndarray, maps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training targets uint8 (K, H, W) (255 = unlabelled) of the K labelled images.

    dominant: the region painted with its dominant class (void-dominant regions stay 255);
    full: ground truth inside the region; multiclass: single-class regions painted with their
    class (regions with several classes need a partial-label trainer and stay 255 here).
    """
    image_index = labels["image_index"].to_numpy()
    region_id = labels["region_id"].to_numpy()
    groups = _rows_by_image(image_index)
    images = np.array([image_index[rows[0]] for rows in groups], np.int64)
    targets = np.full((len(images), *maps.shape[1:]), IGNORE, np.uint8)
    if label_type == "multiclass":
        classes = labels["classes"].combine_chunks()
        parent = pc.list_parent_indices(classes).to_numpy()
        flat = classes.flatten().to_numpy()
        first = np.full(len(labels), -1, np.int64)
        owners, first_item = np.unique(parent, return_index=True)
        first[owners] = flat[first_item]
        painted = np.where(np.bincount(parent, minlength=len(labels)) == 1, first, -1)
    else:
        painted = labels["dominant"].to_numpy()
    for k, (index, rows) in enumerate(zip(images, groups, strict=True)):
        if label_type == "full":
            targets[k] = oracle.render_full_regions(maps[index], region_id[rows], gt[index], IGNORE)
        else:
            targets[k] = oracle.render_region_classes(maps[index], region_id[rows], painted[rows])
    return targets, images.astype(np.int32)


def labelled_pixels(label_type: str, labels: pa.Table, table: pa.Table, targets: np.ndarray) -> int:
    """Training pixels that carry a label: every pixel of a region with a non-empty class set
    under multi-class labels (a partial label), else the non-ignored target pixels."""
    if label_type != "multiclass":
        return int(np.count_nonzero(targets != IGNORE))
    sizes = table["n_pixels"].to_numpy()[table_rows(table, labels)]
    has_classes = pc.list_value_length(labels["classes"]).to_numpy() > 0
    return int(sizes[has_classes].sum())


def run_oracle(
    params: dict,
    round_index: int,
    queries_dir: str | Path,
    prepared_dir: str | Path,
    regions_dir: str | Path,
    init_dir: str | Path,
    out_dir: str | Path,
    previous_labels_dir: str | Path | None = None,
) -> dict:
    """Answer the round's queries from ground truth and append them to the labels table."""
    start = time.perf_counter()
    label_type = params["label"]["type"]
    data = PreparedDataset.open(prepared_dir)
    table, maps = _regions(Path(regions_dir))
    per_image = np.bincount(table["image_index"].to_numpy(), minlength=len(maps))
    gt = data.labels("train")
    queries = read_table(Path(queries_dir) / "queries.parquet", "queries")
    previous = (
        read_table(Path(previous_labels_dir) / "labels.parquet", "labels")
        if previous_labels_dir
        else empty_table("labels")
    )
    if len(previous) and len(queries) and labeled_mask(previous, queries).any():
        raise ValueError(f"{queries_dir}: queries ask for regions that are already labelled")
    if is_pixel_pool(regions_dir):
        dominant, classes = pixels.answer(queries, gt)
        new = _label_rows(label_type, queries, dominant, classes)
    else:
        new = _answer(label_settings(params), queries, gt, maps, per_image, data.num_classes)
    labels = pa.concat_tables([previous, new.cast(previous.schema)])
    targets, target_images = render_targets(label_type, labels, gt, maps)
    clicks_round = int(np.sum(new["cost"].to_numpy()))
    summary = {
        "round": round_index,
        "clicks_round": clicks_round,
        "clicks_total": int(np.sum(labels["cost"].to_numpy())),
        "pool_cost": read_json(Path(init_dir) / "meta.json")["pool_cost"],
        "regions_labeled": len(labels),
        "images_labeled": len(target_images),
        "labeled_pixels": labelled_pixels(label_type, labels, table, targets),
        "pool_pixels": int(gt.shape[0] * gt.shape[1] * gt.shape[2]),
        "seconds": round(time.perf_counter() - start, 2),
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_table(labels, tmp / "labels.parquet", "labels")
        np.save(tmp / "targets.npy", targets)
        np.save(tmp / "target_images.npy", target_images)
        write_json(tmp / "summary.json", summary)
    return summary
