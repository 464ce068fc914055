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
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alseg import oracle, storage
from alseg.acquisition.policies import Policy, SelectPool
from alseg.acquisition.select import (
    ScoreBatch,
    StreamedSelection,
    random_scores,
    select_under_budget,
)
from alseg.config import AcquisitionConfig, LabelConfig, round_clicks
from alseg.data.prepared import PreparedDataset
from alseg.labels import (
    class_lists,
    iter_targets,
    labelled_class_counts_of,
    labelled_mask,
    rows_by_image,
    save_targets,
    table_rows,
    target_images_of,
)
from alseg.stages import pixels
from alseg.stages.common import read_json, round_seed, write_json
from alseg.stages.regions import is_pixel_pool
from alseg.storage import NpyRows, atomic_path, local_file
from alseg.tables import (
    buffered_batches,
    check_table,
    column_batches,
    empty_table,
    queries_table,
    read_columns,
    read_table,
    table_batches,
    use_system_memory_pool,
    write_table,
)

KEYS = ["image_index", "region_id"]
STREAM_ROWS = 65536  # rows per record batch of the streamed select


def _regions(regions: str | Path, columns: list[str] | None = None) -> tuple[pa.Table, NpyRows]:
    """The regions table (only ``columns`` when given) and the region maps read by rows, of a
    regions folder or s3:// prefix."""
    table = read_table(local_file(regions, "regions.parquet"), "regions", columns)
    return table, NpyRows(storage.join(str(regions), "train_regions.npy"))


def annotate(label: LabelConfig, gt: np.ndarray, region_map: np.ndarray, n_regions: int,
             num_classes: int) -> oracle.RegionAnswers:  # fmt: skip
    """The simulated annotator (alseg.oracle) on every region of one image, as configured."""
    return oracle.annotate_regions(label.type, gt, region_map, n_regions, num_classes,
                                   label.trim_kernel, label.void == "undefined")  # fmt: skip


def region_costs(label: LabelConfig, prepared_dir: str | Path, table: pa.Table,
                 maps: NpyRows) -> np.ndarray:  # fmt: skip
    """Click cost of every region of the regions ``table`` (its order; ``image_index`` and
    ``n_pixels`` columns) under the label settings; dominant and full labels are priced from
    the table (1 and its pixels), multi-class labels by asking the annotator (ground truth and
    region ``maps`` read one image at a time)."""
    if label.type != "multiclass":
        return oracle.click_costs(label.type, table["n_pixels"].to_numpy())
    data = PreparedDataset.open(prepared_dir)
    gt = data.rows("train_labels.npy")  # one image at a time, as the maps
    per_image = np.bincount(table["image_index"].to_numpy(), minlength=len(maps))
    return np.concatenate([
        annotate(label, gt[i], maps[i], int(per_image[i]), data.num_classes).cost
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
    use_system_memory_pool()  # freed table buffers go back (tables.py)
    table, maps = _regions(regions_dir, [*KEYS, "n_pixels"])
    budget, label_type = params["budget"], params["label"]["type"]
    clicks = round_clicks(budget, 0, spent=0)
    if is_pixel_pool(regions_dir):  # every non-void pixel costs one click
        costs, all_maps = np.zeros(0, np.int32), maps[:]
        pool_cost = int(np.count_nonzero(all_maps >= 0))
        queries = pixels.initial_queries(all_maps, clicks, round_seed(params["seed"], 0))
    else:
        costs = region_costs(LabelConfig(**params["label"]), prepared_dir, table, maps)
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


def _pool_statistics(table: pa.Table, scores_dir: Path) -> dict[str, np.ndarray]:
    """The scores table's columns aligned with the regions table's rows (missing -> NaN / -1).
    A scores table listing the regions in their order (a region pool's) is copied in one
    record batch at a time; any other is read whole and matched by key."""
    path = scores_dir / "scores.parquet"
    aligned = _aligned_statistics(table, path)
    if aligned is not None:
        return aligned
    scored = read_table(path, "scores")
    rows = table_rows(table, scored)
    score = np.full(len(table), np.nan, np.float32)
    score[rows] = scored["score"].to_numpy()
    pred_class = np.full(len(table), -1, np.int16)
    pred_class[rows] = scored["pred_class"].to_numpy()
    width = len(scored["vector"][0]) if len(scored) else 0
    vector = np.full((len(table), width), np.nan, np.float32)
    if width:
        vector[rows] = scored["vector"].combine_chunks().flatten().to_numpy().reshape(-1, width)
    return {"score": score, "pred_class": pred_class, "vector": vector}


def _aligned_statistics(table: pa.Table, path: Path) -> dict[str, np.ndarray] | None:
    """``_pool_statistics`` batch by batch while the scores table's keys equal the regions
    table's, row for row; None as soon as they do not (or when it has fewer rows)."""
    image, region = (table[k].to_numpy() for k in KEYS)
    n, start, out = len(table), 0, None
    for batch in table_batches(path, "scores", [*KEYS, "score", "pred_class", "vector"]):
        stop = start + len(batch)
        same = stop <= n and all(
            np.array_equal(batch.column(k).to_numpy(), ref[start:stop])
            for k, ref in zip(KEYS, (image, region), strict=True)
        )
        if not same:
            return None
        vectors = batch.column("vector")
        if out is None:
            width = len(vectors[0]) if len(batch) else 0
            out = {"score": np.empty(n, np.float32), "pred_class": np.empty(n, np.int16),
                   "vector": np.empty((n, width), np.float32)}  # fmt: skip
        out["score"][start:stop] = batch.column("score").to_numpy()
        out["pred_class"][start:stop] = batch.column("pred_class").to_numpy()
        if out["vector"].shape[1]:
            out["vector"][start:stop] = vectors.flatten().to_numpy().reshape(len(batch), -1)
        start = stop
    return out if start == n and out is not None else None


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

    The policy (alseg.acquisition.policies) picks from the pool's statistics: most rank one score
    per region, OREAL picks per class. A policy that ranks the stored score as it is
    (``ranks_score``) reads the scores table one batch at a time and holds only the best
    candidates (``_streamed_select``); the others get the whole pool (``SelectPool``). Pixel
    pools draw each image's share uniformly among its scored candidates (PixelPick).
    """
    use_system_memory_pool()  # freed table buffers go back (tables.py)
    labels_path = Path(labels_dir) / "labels.parquet"
    policy = AcquisitionConfig(**params["acquisition"]).build()
    labels = read_table(labels_path, "labels", [*KEYS, "cost"] if policy.ranks_score else None)
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
    streamed = None
    if policy.ranks_score:
        folders = local_file(regions_dir, "regions.parquet"), Path(scores_dir), Path(init_dir)
        streamed = _streamed_select(policy, clicks, budget["overshoot"], labels, *folders)
    if streamed is not None:
        selection, offsets = streamed
        picked = selection.picked
        image = np.searchsorted(offsets, picked, "right") - 1  # images without regions skipped
        queries = queries_table(round_index, image, picked - offsets[image], selection.scores,
                                selection.costs)  # fmt: skip
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            write_table(queries, tmp / "queries.parquet", "queries")
        return {"round": round_index, "selected": len(picked),
                "clicks": int(selection.costs.sum()), "eligible": selection.eligible}  # fmt: skip
    if policy.ranks_score:  # the streamed path read the labels' keys and costs only
        labels = read_table(labels_path, "labels")
    table = pa.table(read_columns(local_file(regions_dir, "regions.parquet"), "regions", KEYS))
    statistics = _pool_statistics(table, Path(scores_dir))
    meta = read_json(Path(scores_dir) / "meta.json")
    costs = np.load(Path(init_dir) / "costs.npy")
    labelled = labelled_mask(table, labels)
    prior = meta["class_prior"]
    pool = SelectPool(
        **statistics, labelled=labelled, eligible=~labelled & ~np.isnan(statistics["score"]),
        costs=costs, class_counts=labelled_class_counts_of(labels, meta["num_classes"]),
        class_prior=None if prior is None else np.asarray(prior), clicks=clicks,
        overshoot=budget["overshoot"], label_type=params["label"]["type"],
    )  # fmt: skip
    picked, scores = policy.select(pool)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_table(
            _queries(round_index, table, picked, scores, costs), tmp / "queries.parquet", "queries"
        )
    return {
        "round": round_index,
        "selected": len(picked),
        "clicks": int(costs[picked].sum()),
        "eligible": int(pool.eligible.sum()),
    }


class _NotInRowOrder(Exception):
    """The scores table does not list the regions table's rows in order (the streamed select
    then leaves it to the whole-pool path, which matches rows by key)."""


def _streamed_select(policy: Policy, clicks: int, overshoot: bool, labels: pa.Table,
                     regions_table: Path, scores_dir: Path,
                     init_dir: Path) -> tuple[StreamedSelection, np.ndarray] | None:  # fmt: skip
    """``policy.select_stream`` over the scores table, its costs and labelled mask read batch by
    batch, and the regions' first rows per image (to name the picked rows); None when the
    tables are not in the regions stage's row order (the caller takes the whole-pool path).

    Held: the per-image first rows, the labelled rows (sorted) and the policy's candidates;
    every key is checked against its row (region id = row - first row of its image)."""
    offsets = _image_offsets(regions_table)
    labelled = None if offsets is None else _rows_of(labels, offsets)
    costs = NpyRows(str(init_dir / "costs.npy"))  # ranged reads, one batch at a time
    if labelled is None or costs.shape != (int(offsets[-1]),):
        return None
    path = scores_dir / "scores.parquet"
    check_table(path, "scores")  # every column, from the footer: the wrong table fails here

    def batches() -> Iterator[ScoreBatch]:
        start = 0
        for batch in table_batches(path, "scores", [*KEYS, "score"], STREAM_ROWS):
            stop = start + len(batch)
            image, region = (batch.column(k).to_numpy() for k in KEYS)
            rows = _rows_of_keys(image, region, offsets)
            if rows is None or not np.array_equal(rows, np.arange(start, stop)):
                raise _NotInRowOrder
            eligible = np.ones(len(batch), bool)
            eligible[labelled[np.searchsorted(labelled, start) :
                              np.searchsorted(labelled, stop)] - start] = False  # fmt: skip
            yield start, batch.column("score").to_numpy(), costs[start:stop], eligible
            start = stop
        if start != len(costs):
            raise _NotInRowOrder

    try:
        selection = policy.select_stream(batches, clicks, overshoot)
    except _NotInRowOrder:
        return None
    return None if selection is None else (selection, offsets)


def _image_offsets(path: Path) -> np.ndarray | None:
    """First row of every image in a regions table, (n_images + 1,) int64 (the last entry = its
    rows), read one record batch at a time, when it lists images in ascending order with region
    ids 0 .. R_i - 1 each (as the regions stage writes it: (i, r) is row offsets[i] + r); None
    when it does not."""
    counts = np.zeros(0, np.int64)
    last_image, next_region = -1, 0  # the image that ends the previous batch, its next id
    for batch in buffered_batches(path, "regions", KEYS, STREAM_ROWS):
        image, region = (batch.column(k).to_numpy().astype(np.int64) for k in KEYS)
        if not len(image):
            continue
        new = np.empty(len(image), bool)
        new[0], new[1:] = image[0] != last_image, image[1:] != image[:-1]
        rows = np.arange(len(image))
        first = np.maximum.accumulate(np.where(new, rows, 0))  # row of each run's first region
        expected = rows - first + np.where(np.cumsum(new) == 0, next_region, 0)
        if image[0] < max(last_image, 0) or np.any(image[1:] < image[:-1]):
            return None
        if not np.array_equal(region, expected):
            return None
        last_image, next_region = int(image[-1]), int(expected[-1]) + 1
        here = np.bincount(image)
        counts = np.pad(counts, (0, max(0, len(here) - len(counts))))
        counts[: len(here)] += here
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _rows_of_keys(image: np.ndarray, region: np.ndarray, offsets: np.ndarray) -> np.ndarray | None:
    """Rows (int64) of (image, region) keys given ``_image_offsets``; None if one has none."""
    image, region = image.astype(np.int64), region.astype(np.int64)
    if np.any((image < 0) | (image >= len(offsets) - 1) | (region < 0)):
        return None
    rows = offsets[image] + region
    return rows if np.all(rows < offsets[image + 1]) else None


def _rows_of(labels: pa.Table, offsets: np.ndarray) -> np.ndarray | None:
    """The labelled regions' rows, sorted unique int64; None if a label names no region."""
    image, region = (labels[k].to_numpy() for k in KEYS)
    rows = _rows_of_keys(image, region, offsets)
    return None if rows is None else np.unique(rows)


def _answer(
    label: LabelConfig,
    queries: pa.Table,
    gt: np.ndarray,
    maps: np.ndarray,
    per_image: np.ndarray,
    num_classes: int,
) -> pa.Table:
    """Label rows for the queried regions, from the annotator (one call per queried image)."""
    image_index = queries["image_index"].to_numpy()
    region_id = queries["region_id"].to_numpy()
    dominant = np.empty(len(queries), np.int16)
    answered_rows, multihot = [], []
    for rows in rows_by_image(image_index):
        index = image_index[rows[0]]
        answers = annotate(label, gt[index], maps[index], int(per_image[index]), num_classes)
        dominant[rows] = answers.dominant[region_id[rows]]
        answered_rows.append(rows)
        multihot.append(answers.classes[region_id[rows]])
    if not answered_rows:
        return _label_rows(label.type, queries, dominant, pa.array([], pa.list_(pa.int16())))
    order = np.argsort(np.concatenate(answered_rows))
    classes = class_lists(np.concatenate(multihot)[order])
    return _label_rows(label.type, queries, dominant, classes)


def _label_rows(label_type: str, queries: pa.Table, dominant: np.ndarray,
                classes: pa.ListArray) -> pa.Table:  # fmt: skip
    return pa.table({
        "round": queries["round"], "image_index": queries["image_index"],
        "region_id": queries["region_id"], "label_type": pa.array([label_type] * len(queries)),
        "dominant": dominant, "classes": classes, "cost": queries["cost"],
    })  # fmt: skip


def region_counts(regions_table: Path, n_images: int) -> np.ndarray:
    """Regions per image (n_images,) int64, from the regions table one row group at a time."""
    counts = np.zeros(n_images, np.int64)
    for index in column_batches(regions_table, "regions", "image_index"):
        counts += np.bincount(index, minlength=n_images)
    return counts


def labelled_pixels(label_type: str, labels: pa.Table, regions_table: Path,
                    target_pixels: int) -> int:  # fmt: skip
    """Training pixels that carry a label: every pixel of a region with a non-empty class set
    under multi-class labels (a partial label), else the ``target_pixels`` that are not
    ignored (``save_targets``' count)."""
    if label_type != "multiclass":
        return target_pixels
    table = read_table(regions_table, "regions", [*KEYS, "n_pixels"])
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
    use_system_memory_pool()  # freed table buffers go back (tables.py)
    start = time.perf_counter()
    label_type = params["label"]["type"]
    data = PreparedDataset.open(prepared_dir)
    maps = NpyRows(storage.join(str(regions_dir), "train_regions.npy"))  # one image at a time
    regions_table = local_file(regions_dir, "regions.parquet")
    per_image = region_counts(regions_table, len(maps))
    gt = data.rows("train_labels.npy")
    queries = read_table(Path(queries_dir) / "queries.parquet", "queries")
    previous = (
        read_table(Path(previous_labels_dir) / "labels.parquet", "labels")
        if previous_labels_dir
        else empty_table("labels")
    )
    if len(previous) and len(queries) and labelled_mask(previous, queries).any():
        raise ValueError(f"{queries_dir}: queries ask for regions that are already labelled")
    if is_pixel_pool(regions_dir):
        dominant, classes = pixels.answer(queries, gt)
        new = _label_rows(label_type, queries, dominant, classes)
    else:
        label = LabelConfig(**params["label"])
        new = _answer(label, queries, gt, maps, per_image, data.num_classes)
    labels = pa.concat_tables([previous, new.cast(previous.schema)])
    target_images = target_images_of(labels)
    summary = {
        "round": round_index,
        "clicks_round": int(np.sum(new["cost"].to_numpy())),
        "clicks_total": int(np.sum(labels["cost"].to_numpy())),
        "pool_cost": read_json(Path(init_dir) / "meta.json")["pool_cost"],
        "regions_labelled": len(labels),
        "images_labelled": len(target_images),
        "pool_pixels": int(gt.shape[0] * gt.shape[1] * gt.shape[2]),
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_table(labels, tmp / "labels.parquet", "labels")
        targets = iter_targets(label_type, labels, gt, maps)  # (K, H, W), one image at a time
        painted = save_targets(tmp / "targets.npy", targets, (len(target_images), *gt.shape[1:]))
        np.save(tmp / "target_images.npy", target_images)
        summary["labelled_pixels"] = labelled_pixels(label_type, labels, regions_table, painted)
        summary["seconds"] = round(time.perf_counter() - start, 2)
        write_json(tmp / "summary.json", summary)
    return summary
