"""Bytes each task of an experiment moves (issue #18 item 3), before and after URI inputs.

On a cluster the KFP launcher downloads every input artifact whole before a task's body runs
(``downloadArtifacts`` in backend/src/v2/component/launcher_v2.go), so a task moves the full
size of its input folders. Tasks now take the prepared dataset and the regions folder by URI
(``prepare`` and ``regions`` return their folder's URI) and read only what they use: a file
they need whole (``storage.local_path``: one download), or rows of an ``.npy`` file
(``storage.NpyRows``: ranged reads); the other inputs (model, labels, scores, ...) are still
artifacts, downloaded whole.

Measured here with the real stages, one experiment's tasks in pipeline order, on local folders:
- ``before``: the size of every input folder of the task (all of them artifacts, as before);
- ``after``: what the task read through alseg.storage (``storage.bytes_read``) plus the size of
  the inputs its component still takes as artifacts. Which inputs are URIs is read from the
  components' own signatures (a ``str`` input), so the table follows the pipeline.
- score and pseudo per shard, for 1 and ``shards`` shards.

Data: CamVid at 180x240 when present (``../shared/data/camvid``), else the synthetic default.
Regions are a 16-pixel grid (180 cells per CamVid image, about SEEDS's 165): the region maps
(int32 (N, H, W)) have the same size whatever the method; dominant labels, entropy, round-0
labels of 3,000 random regions, 2 training iterations (the bytes do not depend on them).

    python bench/bytes_moved.py [--shards 4]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alseg import storage  # noqa: E402
from alseg.config import ExperimentConfig, stage_params  # noqa: E402
from alseg.stages import registry  # noqa: E402
from alseg.stages.registry import STAGES  # noqa: E402

MB = 1e6


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (what the launcher downloads for it)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def uri_inputs(stage: str) -> set[str]:
    """The inputs the stage's KFP component takes as a URI (a ``str`` parameter)."""
    component = STAGES[stage].component
    spec = getattr(importlib.import_module(f"components.{component}"), component).component_spec
    return {name for name, value in (spec.inputs or {}).items() if value.type == "String"}


def _config(camvid: Path | None) -> ExperimentConfig:
    data = ({"dataset": "camvid", "root": str(camvid), "image_size": [180, 240]}
            if camvid is not None else {})  # fmt: skip
    return ExperimentConfig(
        data=data, region={"type": "grid", "size": 16}, device="cpu",
        acquisition={"policy": "entropy", "batch_size": 16},
        train={"iterations": 2, "batch_size": 4, "eval_batch_size": 16},
        budget={"rounds": 2, "initial_clicks": 3000, "clicks_per_round": 3000},
    )  # fmt: skip


class Tasks:
    """Runs stages on folders under ``root`` and records each task's bytes before and after."""

    def __init__(self, cfg: ExperimentConfig, root: Path) -> None:
        self.cfg, self.root, self.rows = cfg, root, []

    def run(self, stage: str, out: str, inputs: dict[str, str], round_index: int | None = None,
            label: str = "", **options) -> None:  # fmt: skip
        folders = {name: str(self.root / folder) for name, folder in inputs.items()}
        sizes = {name: folder_bytes(Path(folder)) for name, folder in folders.items()}
        uris = uri_inputs(stage)
        storage.bytes_read(reset=True)
        params = stage_params(self.cfg, stage) if STAGES[stage].sections else "{}"
        registry.call(stage, params, folders, str(self.root / out), round_index, **options)
        read = storage.bytes_read(reset=True)
        artifacts = sum(size for name, size in sizes.items() if name not in uris)
        self.rows.append({"task": label or stage, "before_mb": sum(sizes.values()) / MB,
                          "after_mb": (read + artifacts) / MB})  # fmt: skip


def bytes_moved(camvid: Path | None = None, shards: int = 4) -> dict:
    """{"dataset", "images", "folders_mb": {name: MB}, "tasks": [{"task", "before_mb",
    "after_mb"}]}: MB (1e6 bytes) each task moves before and after, in pipeline order."""
    cfg = _config(camvid)
    with tempfile.TemporaryDirectory(prefix="alseg-bytes-") as name:
        root = Path(name)
        tasks = Tasks(cfg, root)
        registry.call("prepare", stage_params(cfg, "prepare"), {}, str(root / "prepared"))
        tasks.run("regions", "regions", {"prepared": "prepared"})
        pool = {"prepared": "prepared", "regions": "regions"}
        tasks.run("init", "init", pool)
        tasks.run("oracle", "labels", {"queries": "init", **pool, "init": "init"}, 0)
        tasks.run("train", "model", {"prepared": "prepared", "labels": "labels",
                                     "regions": "regions"}, 0)  # fmt: skip
        tasks.run("evaluate", "evaluation", {"prepared": "prepared", "model": "model",
                                             "labels": "labels"}, 0)  # fmt: skip
        scored = {**pool, "model": "model", "labels": "labels"}
        for count in sorted({1, shards}):
            for s in range(count):
                tasks.run("score", f"scores-{count}-{s}", scored, 0, f"score {s + 1}/{count}",
                          shard=s, shards=count)  # fmt: skip
                tasks.run("pseudo", f"pseudo-{count}-{s}", scored, 0, f"pseudo {s + 1}/{count}",
                          shard=s, shards=count)  # fmt: skip
        tasks.run("merge", "scores", {"shards": "scores-1-0"}, 0)
        tasks.run("merge_pseudo", "pseudo", {"shards": "pseudo-1-0"}, 0)
        tasks.run("select", "queries", {"scores": "scores", "init": "init", "labels": "labels",
                                        "regions": "regions"}, 1)  # fmt: skip
        tasks.run("oracle", "labels-1", {"queries": "queries", **pool, "init": "init",
                                         "previous_labels": "labels"}, 1)  # fmt: skip
        tasks.run("report", "report", {"evaluation": "evaluation", "labels": "labels-1", **pool},
                  run_name="bytes")  # fmt: skip
        folders = ("prepared", "regions", "init", "labels", "model", "scores", "evaluation")
        return {
            "dataset": "camvid" if camvid is not None else "synthetic",
            "images": len(storage.NpyRows(str(root / "regions" / "train_regions.npy"))),
            "folders_mb": {f: folder_bytes(root / f) / MB for f in folders},
            "tasks": tasks.rows,
        }


def print_bytes_moved(result: dict) -> None:
    """The folders' sizes, then one line per task: MB before (every input an artifact) and
    after (URI inputs read in part)."""
    print(f"\n## Bytes moved per task ({result['dataset']}, {result['images']} pool images)")
    print("  folders: " + ", ".join(f"{k} {v:.1f} MB" for k, v in result["folders_mb"].items()))
    print(f"  {'task':14s} {'before MB':>10s} {'after MB':>10s}")
    for row in result["tasks"]:
        print(f"  {row['task']:14s} {row['before_mb']:10.1f} {row['after_mb']:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    camvid = Path(os.environ.get("ALSEG_CAMVID", REPO.parent / "shared/data/camvid"))
    print_bytes_moved(bytes_moved(camvid if (camvid / "train").is_dir() else None, args.shards))


if __name__ == "__main__":
    main()
