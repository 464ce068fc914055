"""train, evaluate and score stages: the steps that run the network (GPU when present).

Folders:
- train: ``model.pt`` + ``model.json`` (config, round, classes, training stats).
- evaluate: ``metrics.json`` (mIoU, per-class IoU, pixel accuracy + the round's labelling summary).
- score: ``scores.parquet`` (one score per region of the pool, larger = query first).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from alseg import IGNORE, checkpoints, storage
from alseg.acquisition.balanced import PriorAccumulator
from alseg.acquisition.policies import Policy, PoolBatch, RegionStatistics
from alseg.config import AcquisitionConfig, LabelConfig, ModelConfig, TrainConfig
from alseg.data.prepared import PreparedDataset
from alseg.labels import (
    labelled_class_counts_of,
    labelled_pixel_mask,
    num_outputs,
    region_id_count,
    region_labels_of,
    region_meta,
)
from alseg.metrics import ConfusionMatrix, al_curve_area, gini
from alseg.predict import predict_batches
from alseg.progress import track_batches
from alseg.stages import pixels
from alseg.stages.common import read_json, resolve_device, round_seed, write_json
from alseg.stages.shards import BatchPriors, merged_prior, shard_rows
from alseg.storage import atomic_path
from alseg.tables import (
    SCHEMAS,
    check_table,
    empty_table,
    read_table,
    scores_table,
    write_row_groups,
)
from alseg.train import save_checkpoint, train_model
from alseg.trainers import get_trainer
from alseg.trainers.base import unlabelled_stream
from alseg.weights import named_weights


def fully_labelled_images(labels_dir: Path, regions: str | Path) -> np.ndarray:
    """bool (N,): every region of the image is labelled (pixel pools: never); ``regions`` a
    folder or an s3:// prefix (its regions table and the header of its maps are read)."""
    table = read_table(storage.local_path(storage.join(str(regions), "regions.parquet")),
                       "regions", columns=["image_index"])  # fmt: skip
    n_images = len(storage.NpyRows(storage.join(str(regions), "train_regions.npy")))
    labels = read_table(labels_dir / "labels.parquet", "labels")
    per_image = np.bincount(table["image_index"].to_numpy(), minlength=n_images)
    labelled = np.bincount(labels["image_index"].to_numpy(), minlength=n_images)
    return (per_image > 0) & (labelled >= per_image)


def run_train(
    params: dict,
    round_index: int,
    prepared_dir: str | Path,
    labels_dir: str | Path,
    out_dir: str | Path,
    previous_model_dir: str | Path | None = None,
    regions_dir: str | Path | None = None,
    stage: int = 1,
) -> dict:
    """Train the round's model (warm start: from the previous model).

    Stage 1 trains on the oracle's labels in ``labels_dir``: cross-entropy on its rendered
    targets, or MulActSeg's stage-1 losses on multi-class region labels (needs ``regions_dir``).
    Stage 2 (MulActSeg) trains with cross-entropy on the pseudo-labels in ``labels_dir``.
    The registered trainer (alseg.trainers) says what else it reads: region labels, or the
    unlabelled stream (pool images not fully labelled). ``model.pt`` is the trainer's
    reported model (S4AL: the teacher by default; ``reported_model`` in ``model.json``), so
    evaluate and score use the same one.
    """
    device = resolve_device(params["device"])
    model_cfg = ModelConfig(**params["model"])
    train_cfg = TrainConfig(**params["train"])
    label = LabelConfig(**params["label"])
    if model_cfg.pretrained and named_weights(model_cfg.backbone, model_cfg.pretrained) is None:
        model_cfg = model_cfg.model_copy(
            update={"pretrained": str(storage.local_path(model_cfg.pretrained))}
        )
    data = PreparedDataset.open(prepared_dir)
    labels_dir = Path(labels_dir)
    targets = np.load(labels_dir / "targets.npy")
    target_images = np.load(labels_dir / "target_images.npy")
    if len(target_images) == 0:
        raise ValueError(
            f"{labels_dir}: no labelled image to train on (raise budget.initial_clicks)"
        )
    n_outputs = num_outputs(data.num_classes, label)
    name = train_cfg.trainer if stage == 1 else "supervised"  # stage 2: CE on pseudo-labels
    trainer = get_trainer(name)
    if (trainer.needs_region_labels or trainer.needs_unlabelled) and regions_dir is None:
        raise ValueError(f"trainer '{name}' needs the regions folder (region maps)")
    region_labels = unlabelled = None
    if trainer.needs_region_labels:
        region_labels = region_labels_of(labels_dir, regions_dir, target_images, n_outputs)
    if trainer.needs_unlabelled:
        complete = fully_labelled_images(labels_dir, regions_dir)
        unlabelled = unlabelled_stream(data.images("train"), targets, target_images, complete)
    init_state = None
    if train_cfg.warm_start and previous_model_dir:
        init_state = checkpoints.load_state(previous_model_dir, n_outputs, model_cfg.backbone)
    model, stats = train_model(
        data.images("train"), targets, target_images, n_outputs, model_cfg, train_cfg,
        seed=round_seed(params["seed"], round_index, salt=1 if stage == 1 else 3), device=device,
        init_state=init_state, region_labels=region_labels, trainer=name, unlabelled=unlabelled,
    )  # fmt: skip
    sidecar = {
        "round": round_index,
        "stage": stage,
        "num_classes": n_outputs,
        "classes": data.classes,
        "model": params["model"],
        "train": params["train"],
        "device": device,
        **stats,
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        save_checkpoint(model, tmp, sidecar)
    return {"round": round_index, "stage": stage, **stats}


def evaluate_model(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
) -> dict:
    """mIoU / per-class IoU / pixel accuracy of ``model`` on (images, labels with void = 255)."""
    matrix = ConfusionMatrix(num_classes, IGNORE)
    batches = predict_batches(model, images, batch_size)
    for rows, probs in track_batches(batches, len(images), batch_size, "img"):
        # argmax over the dataset's classes only (an 'undefined' output is never predicted)
        matrix.update(probs[:, :num_classes].argmax(1).cpu().numpy(), np.asarray(labels[rows]))
    return matrix.compute()


def run_evaluate(
    params: dict,
    round_index: int,
    prepared_dir: str | Path,
    model_dir: str | Path,
    labels_dir: str | Path,
    out_dir: str | Path,
    history_dir: str | Path | None = None,
) -> dict:
    """Evaluate on the test split when present, else val; attach the labelling summary.

    The output folder holds ``round_XX.json`` for this round and every earlier one (copied from
    ``history_dir``), so the last round's folder is the whole AL curve.
    """
    start = time.perf_counter()
    device = resolve_device(params["device"])
    data = PreparedDataset.open(prepared_dir)
    outputs = checkpoints.outputs_for(data.num_classes)
    model, sidecar = checkpoints.load_model(model_dir, device, outputs)
    split = data.eval_split
    scores = evaluate_model(
        model,
        data.images(split),
        data.labels(split),
        data.num_classes,
        TrainConfig(**params["train"]).eval_batch_size,
    )
    summary = read_json(Path(labels_dir) / "summary.json")
    labels = read_table(Path(labels_dir) / "labels.parquet", "labels")
    earlier = sorted(Path(history_dir).glob("round_*.json")) if history_dir else []
    metrics = {
        "round": round_index, "split": split, "classes": data.classes, **scores,
        "clicks": summary["clicks_total"], "pool_cost": summary["pool_cost"],
        "clicks_pct_of_pool": 100.0 * summary["clicks_total"] / max(summary["pool_cost"], 1),
        "labelled_pixels_pct": 100.0 * summary["labelled_pixels"] / summary["pool_pixels"],
        "gini": gini(labelled_class_counts_of(labels, data.num_classes)),
        "train_seconds": sidecar["train_seconds"],
        "eval_seconds": round(time.perf_counter() - start, 2),
    }  # fmt: skip
    curve = [read_json(p) for p in earlier] + [metrics]
    metrics["auALC"] = al_curve_area([m["clicks"] for m in curve], [100 * m["miou"] for m in curve])
    if params.get("reference_miou"):
        metrics["pct_of_full"] = 100.0 * scores["miou"] / params["reference_miou"]
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for path in earlier:
            shutil.copy(path, tmp / path.name)
        write_json(tmp / f"round_{round_index:02d}.json", metrics)
    return metrics


def statistics_rows(start: int, stats: RegionStatistics) -> pa.Table:
    """Scores-table rows of the regions present (``score`` not NaN) in one batch's statistics
    of the images ``start``, ``start + 1``, ... (one host copy per tensor)."""
    score = stats.score.cpu()
    image_index, region_id = torch.nonzero(~torch.isnan(score), as_tuple=True)
    pred = None if stats.pred_class is None else stats.pred_class.cpu()[image_index, region_id]
    vector = None if stats.vector is None else stats.vector.cpu()[image_index, region_id]
    return scores_table((image_index + start).numpy(), region_id.numpy(),
                        score[image_index, region_id].numpy(),
                        None if pred is None else pred.numpy(),
                        None if vector is None else vector.numpy())  # fmt: skip


def region_score_batches(
    model: torch.nn.Module | None,
    images: np.ndarray,
    region_maps: np.ndarray,
    policy: Policy,
    batch_size: int,
    seed: int,
    device: str,
    prior: PriorAccumulator | BatchPriors,
    n_regions: int | None = None,
    first: int = 0,
) -> Iterator[pa.Table]:
    """Scores-table rows of each batch of ``images`` (pool rows ``first``, ``first + 1``, ...)
    in turn.

    Per batch: probs (B, C, H, W) (none when the policy needs no model) -> the policy's region
    statistics over ids < ``n_regions`` (None: max id of ``region_maps`` + 1; one scatter, no
    loop over regions). A policy that needs the pool prior adds each batch's probabilities to
    ``prior`` (``BatchPriors`` keeps the per-batch means for the merge of shards).
    """
    if n_regions is None:
        n_regions = int(region_maps.max()) + 1
    for rows, probs in predict_batches(model, images, batch_size):
        regions = torch.from_numpy(np.asarray(region_maps[rows]).astype(np.int64)).to(device)
        if policy.needs_prior:
            prior.update(probs)
        batch = PoolBatch(probs, regions, n_regions, first + rows.start, seed)
        yield statistics_rows(first + rows.start, policy.region_statistics(batch))


def run_score(
    params: dict,
    round_index: int,
    prepared_dir: str | Path,
    regions_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    labels_dir: str | Path | None = None,
    shard: int = 0,
    shards: int = 1,
) -> dict:
    """Score shard ``shard`` of ``shards`` of the training pool (alseg.stages.shards: whole
    batches) with the round's model -> a shard folder for ``run_merge``; with one shard it is
    also the score folder select reads (pixel pools: each image's most uncertain unlabelled
    pixels, which needs ``labels_dir``).

    ``prepared_dir`` / ``regions_dir`` may be local folders or s3:// prefixes: only the shard's
    rows of ``train_images.npy`` and ``train_regions.npy`` are read (ranged reads)."""
    start = time.perf_counter()
    acquisition = AcquisitionConfig(**params["acquisition"])
    policy, batch_size = acquisition.build(), acquisition.batch_size
    device = resolve_device(params["device"])
    data, regions_uri = PreparedDataset.open(prepared_dir), str(regions_dir)
    num_classes = data.num_classes
    all_maps = storage.NpyRows(storage.join(regions_uri, "train_regions.npy"))
    rows = shard_rows(len(all_maps), batch_size, shards, shard)
    images = data.rows("train_images.npy").window(rows)
    region_maps = all_maps.window(rows)
    outputs = checkpoints.outputs_for(num_classes)
    model = checkpoints.load_model(model_dir, device, outputs)[0] if policy.needs_model else None
    schema = SCHEMAS["scores"].with_metadata({"alseg.table": "scores", "alseg.schema_version": "1"})
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        seed = round_seed(params["seed"], round_index, salt=2)
        prior = BatchPriors()  # PixBal's class prior: per-batch mean probabilities
        regions_meta = region_meta(regions_uri)
        if regions_meta["method"] == "pixel":
            labels = (read_table(Path(labels_dir) / "labels.parquet", "labels") if labels_dir
                      else empty_table("labels"))  # fmt: skip
            labelled = labelled_pixel_mask(labels, all_maps.shape)[rows]
            tables = pixels.pixel_score_batches(model, images, region_maps, labelled, policy,
                                                batch_size, seed, device, rows.start)  # fmt: skip
        else:
            n_regions = region_id_count(regions_meta, all_maps)
            tables = region_score_batches(model, images, region_maps, policy, batch_size, seed,
                                          device, prior, n_regions, rows.start)  # fmt: skip
        tables = track_batches(tables, len(region_maps), batch_size, "img")
        with pq.ParquetWriter(tmp / "scores.parquet", schema) as writer:
            written = write_row_groups(writer, tables, rows_per_group=1)  # one group per batch
        check_table(tmp / "scores.parquet", "scores")  # validates what was written (footer)
        write_json(tmp / "meta.json", {
            "num_classes": num_classes,
            "class_prior": merged_prior(prior.means) if prior.means else None,  # this shard's
            "shard": {"index": shard, "count": shards, "start": rows.start, "stop": rows.stop,
                      "images": len(all_maps)},
            "batch_priors": prior.means if policy.needs_prior else None,
        })  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "round": round_index,
        "shard": shard,
        "regions_scored": written,
        "seconds": round(seconds, 2),
        "images_per_second": round(len(region_maps) / seconds, 1),
    }
