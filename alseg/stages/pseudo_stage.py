"""pseudo stage (MulActSeg stage 2): prototype pseudo-labels of the labelled images.

Reads the stage-1 model, the oracle's multi-class region labels and the region maps; per image:
decoder features (L2-normalised, upsampled) and probabilities without temperature -> per-region
class prototypes -> intra-region localisation -> label expansion into adjacent regions
(alseg.pseudo). Writes the same files as the oracle (``targets.npy`` uint8 (K, H, W) with
255 = ignore, ``target_images.npy``) so the supervised trainer consumes them, plus
``coverage.parquet`` (per image: labelled pixels, correct pixels) and ``summary.json`` with the
pseudo-label pixel accuracy against ground truth (a diagnostic; training never sees ground truth).

Sharded as scoring is (alseg.stages.shards): on a cluster a ParallelFor of pseudo tasks over the
labelled images, each reading its images and region maps by URI, then ``merge_pseudo``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from alseg import IGNORE, checkpoints
from alseg.config import LabelConfig, TrainConfig
from alseg.data.prepared import PreparedDataset
from alseg.labels import num_outputs, region_labels_of
from alseg.predict import predict_batches
from alseg.progress import track_batches
from alseg.pseudo import prepare_features, pseudo_label_image
from alseg.stages.common import read_json, resolve_device, write_json
from alseg.stages.shards import pseudo_summary, shard_rows
from alseg.storage import atomic_path


@torch.no_grad()
def pseudo_labels(
    model: torch.nn.Module,
    images: np.ndarray,
    maps: np.ndarray,
    classes: np.ndarray,
    temperature: float | None,
    train: TrainConfig,
    device: str,
    batch_size: int,
) -> np.ndarray:
    """uint8 (K, H, W) pseudo-labels of K images with region maps (K, H, W) and region classes
    (K, R, C); ``temperature`` undoes a cosine head's scaling (probabilities without it)."""
    out = np.full(maps.shape, IGNORE, np.uint8)
    batches = predict_batches(model, images, batch_size, temperature, features=True)
    for rows, probs, features in track_batches(batches, len(images), batch_size, "img"):
        for k in range(probs.shape[0]):
            image = rows.start + k
            label = pseudo_label_image(
                prepare_features(features[k].float(), tuple(maps.shape[1:])), probs[k],
                torch.from_numpy(maps[image].astype(np.int64)).to(device),
                torch.from_numpy(classes[image]).to(device),
                threshold=train.pseudo_threshold, expand=train.pseudo_expand,
                labelled=torch.from_numpy(classes[image].any(-1)).to(device),
            )  # fmt: skip
            out[image] = label.cpu().numpy()
    return out


def run_pseudo(
    params: dict,
    round_index: int,
    prepared_dir: str | Path,
    regions_dir: str | Path,
    labels_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    shard: int = 0,
    shards: int = 1,
) -> dict:
    """Pseudo-label shard ``shard`` of ``shards`` of the labelled images: whole batches of
    ``train.eval_batch_size`` of the unsharded run (alseg.stages.shards.shard_rows over the
    labelled images), so every image is labelled as the unsharded run labels it. With one shard
    the folder is also what the stage-2 retrain reads; else ``run_merge_pseudo`` joins them.

    ``prepared_dir`` / ``regions_dir`` may be local folders or s3:// prefixes: only the shard's
    images, ground truth and region maps are read (ranged reads)."""
    start = time.perf_counter()
    device = resolve_device(params["device"])
    train = TrainConfig(**params["train"])
    data = PreparedDataset.open(prepared_dir)
    num_classes = data.num_classes
    model, sidecar = checkpoints.load_model(model_dir, device, checkpoints.outputs_for(num_classes))
    all_targets = np.load(Path(labels_dir) / "target_images.npy")
    rows = shard_rows(len(all_targets), train.eval_batch_size, shards, shard)
    target_images = all_targets[rows]
    n_outputs = num_outputs(num_classes, LabelConfig(**params["label"]))
    maps, classes = region_labels_of(labels_dir, regions_dir, target_images, n_outputs)
    head = sidecar["model"]
    temperature = head.get("temperature") if head.get("head") == "cosine" else None
    images = data.rows("train_images.npy").take(target_images)
    targets = pseudo_labels(model, images, maps, classes, temperature, train, device,
                            train.eval_batch_size)  # fmt: skip
    gt = data.rows("train_labels.npy").take(target_images)
    labelled = (targets != IGNORE) & (targets < num_classes)
    correct = labelled & (targets == gt)
    coverage = pa.table({
        "image_index": target_images.astype(np.int32),
        "labelled_pixels": labelled.sum((1, 2)), "correct_pixels": correct.sum((1, 2)),
    })  # fmt: skip
    summary = {
        "round": round_index,
        "clicks": read_json(Path(labels_dir) / "summary.json")["clicks_total"],  # MLflow step
        **pseudo_summary(coverage, targets.size),
        "shard": {"index": shard, "count": shards, "start": rows.start, "stop": rows.stop,
                  "images": len(all_targets)},
        "seconds": round(time.perf_counter() - start, 2),
    }  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "targets.npy", targets)
        np.save(tmp / "target_images.npy", target_images)
        pq.write_table(coverage, tmp / "coverage.parquet")
        write_json(tmp / "summary.json", summary)
    return summary
