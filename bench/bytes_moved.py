"""Bytes a task moves (issue #18 item 3): the score step before and after sharded, ranged reads.

On a cluster the KFP launcher downloads every input artifact whole before a task's body runs
(``downloadArtifacts`` in backend/src/v2/component/launcher_v2.go), so a task moves the full
size of its input folders. Before sharding the score task took the prepared dataset and the
regions folder as input artifacts; now it takes their URIs and reads only its shard's rows
(``alseg.storage.NpyRows``), plus the model and labels artifacts, still downloaded whole.

Measured here, on local folders with the real stages:
- ``before``: bytes of the score task's input folders (prepared + regions + model + labels);
- ``after``: bytes the score task read through alseg.storage (``storage.bytes_read``: meta.json
  files, .npy headers and its rows of ``train_images.npy`` / ``train_regions.npy``) plus the
  model and labels folders; per shard for 1 and ``shards`` shards.
- the other tasks' input bytes (unchanged: they still take whole artifacts).

Data: CamVid at 180x240 when present (``../shared/data/camvid``), else the synthetic default.
Regions are a 16-pixel grid (180 cells per CamVid image, about SEEDS's 165): the region maps
(int32 (N, H, W)) have the same size whatever the method; only regions.parquet differs a little.

    python bench/bytes_moved.py [--shards 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alseg import storage  # noqa: E402
from alseg.config import AcquisitionConfig, DataConfig, ModelConfig, RegionConfig  # noqa: E402
from alseg.stages import labeling, model_stages, prepare, regions  # noqa: E402
from alseg.stages.registry import STAGES  # noqa: E402

MB = 1e6


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (what the launcher downloads for it)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _experiment(tmp: Path, camvid: Path | None) -> dict:
    """Prepared set, grid regions, round-0 labels and an untrained model checkpoint."""
    from alseg.train import model_from_config, save_checkpoint

    if camvid is not None:
        data = DataConfig(dataset="camvid", root=str(camvid), image_size=(180, 240))
    else:
        data = DataConfig()
    prepare.run(data, tmp / "prepared")
    regions.run(RegionConfig(type="grid", size=16), tmp / "prepared", tmp / "regions")
    budget = {"initial_clicks": 3000, "clicks_per_round": 3000, "overshoot": False}
    params = {"seed": 0, "label": {"type": "dominant"}, "budget": budget}
    labeling.run_init(params, tmp / "prepared", tmp / "regions", tmp / "init")
    labeling.run_oracle(params, 0, tmp / "init", tmp / "prepared", tmp / "regions", tmp / "init",
                        tmp / "labels")  # fmt: skip
    num_classes = len(json.loads((tmp / "prepared" / "meta.json").read_text())["classes"])
    (tmp / "model").mkdir()
    model = model_from_config(ModelConfig(), num_classes, load_weights=False)
    save_checkpoint(model, tmp / "model", {"num_classes": num_classes,
                                           "model": ModelConfig().model_dump()})  # fmt: skip
    return {**params, "device": "cpu"}


def _score_reads(tmp: Path, params: dict, shards: int) -> list[int]:
    """Bytes each of ``shards`` score tasks read through alseg.storage."""
    reads = []
    for shard in range(shards):
        storage.bytes_read(reset=True)
        model_stages.run_score(params, 0, str(tmp / "prepared"), str(tmp / "regions"),
                               tmp / "model", tmp / f"scores-{shards}-{shard}", tmp / "labels",
                               shard=shard, shards=shards)  # fmt: skip
        reads.append(storage.bytes_read(reset=True))
    return reads


def bytes_moved(camvid: Path | None = None, shards: int = 4) -> dict:
    """{"dataset", "images", "before_mb", "after_mb": {S: per-shard MB}, "inputs_mb": {stage:
    MB}, ...}: MB (1e6 bytes) a score task moves before and after, and the other tasks' input
    artifacts (unchanged)."""
    with tempfile.TemporaryDirectory(prefix="alseg-bytes-") as name:
        tmp = Path(name)
        params = _experiment(tmp, camvid)
        params["acquisition"] = AcquisitionConfig(policy="entropy", batch_size=16).model_dump()
        sizes = {n: folder_bytes(tmp / n) for n in ("prepared", "regions", "model", "labels",
                                                     "init")}  # fmt: skip
        artifacts = sizes["model"] + sizes["labels"]  # still input artifacts of a score task
        after = {s: [(r + artifacts) / MB for r in _score_reads(tmp, params, s)]
                 for s in sorted({1, shards})}  # fmt: skip
        sizes["scores"] = folder_bytes(tmp / "scores-1-0")
        sizes.update(queries=sizes["init"], evaluation=0, history=0, previous_labels=0)
        sizes.update(previous_model=sizes["model"], shards=sizes["scores"])
        inputs = {s.name: sum(sizes.get(n.rstrip("?"), 0) for n in s.inputs) / MB
                  for s in STAGES.values() if s.name not in ("score", "shard_plan")}  # fmt: skip
        return {
            "dataset": "camvid" if camvid is not None else "synthetic",
            "images": len(storage.NpyRows(str(tmp / "regions" / "train_regions.npy"))),
            "prepared_mb": sizes["prepared"] / MB,
            "regions_mb": sizes["regions"] / MB,
            "model_mb": sizes["model"] / MB,
            "labels_mb": sizes["labels"] / MB,
            "before_mb": (sizes["prepared"] + sizes["regions"] + artifacts) / MB,
            "after_mb": after,
            "inputs_mb": inputs,
        }


def print_bytes_moved(result: dict) -> None:
    """A small table: the score task before / after, then the other tasks' inputs."""
    print(f"\n## Bytes moved per task ({result['dataset']}, {result['images']} pool images)")
    print(f"  prepared {result['prepared_mb']:.1f} MB, regions {result['regions_mb']:.1f} MB, "
          f"model {result['model_mb']:.1f} MB, labels {result['labels_mb']:.2f} MB")  # fmt: skip
    print(f"  score task, before (whole artifacts):        {result['before_mb']:8.1f} MB")
    for count, per_shard in result["after_mb"].items():
        print(f"  score task, after, {count} shard(s): per shard {max(per_shard):8.1f} MB "
              f"(all shards {sum(per_shard):.1f} MB)")  # fmt: skip
    for stage, mb in result["inputs_mb"].items():
        print(f"  {stage:12s} input artifacts (unchanged) {mb:8.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    camvid = Path(os.environ.get("ALSEG_CAMVID", REPO.parent / "shared/data/camvid"))
    print_bytes_moved(bytes_moved(camvid if (camvid / "train").is_dir() else None, args.shards))


if __name__ == "__main__":
    main()
