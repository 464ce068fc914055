"""Score stage over bare forward for every policy x aggregation cell (issue #18, item 1).

A cell is ``policy:aggregation``: every aggregation a registered policy's settings accept (the
values of its ``aggregation`` field), ``mean`` for a policy without one (ClassBal, PixBal, CBAL);
policies that need no model (random) are left out. Run alone on a small synthetic pool:

    python bench/score_matrix.py --images 16 --passes 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alseg.acquisition.aggregate import AGGREGATIONS  # noqa: E402
from alseg.acquisition.balanced import PriorAccumulator  # noqa: E402
from alseg.acquisition.policies import Policy, get_policy, policy_names  # noqa: E402
from alseg.models import build_model  # noqa: E402
from alseg.stages.model_stages import region_score_batches  # noqa: E402
from alseg.tables import SCHEMAS, write_row_groups  # noqa: E402
from alseg.train import to_input  # noqa: E402


def matrix_cells() -> list[tuple[str, Policy]]:
    """("policy:aggregation", the policy so configured) for every model-based policy."""
    cells = []
    for name in policy_names():
        policy = get_policy(name)
        if not policy.needs_model:
            continue
        field = policy.Settings.model_fields.get("aggregation")
        if field is None:
            cells.append((f"{name}:mean", policy))
            continue
        for how in get_args(field.annotation):
            cells.append((f"{name}:{how}", get_policy(name, policy.Settings(aggregation=how))))
    return cells


def bench_model(num_classes: int) -> torch.nn.Module:
    """The presets' model (mobilenet_v2 DeepLabV3+), channels-last, eval mode."""
    model = build_model("mobilenet_v2", num_classes=num_classes).eval()
    return model.to(memory_format=torch.channels_last)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired_times(
    model: torch.nn.Module,
    images: np.ndarray,
    batch: int,
    stage_batches: Callable[[], Iterator[pa.Table]],
    passes: int,
) -> np.ndarray:
    """(pairs, 2) seconds: a bare forward + softmax of a batch and the stage's work on the same
    batch (``next`` of its batch generator: forward, statistics and scores-table rows), back to
    back, the first of the two alternating from pair to pair (neither gains from the caches the
    other warmed), ``passes`` times over the images. Each pass's Parquet write (per row group,
    as the stage writes) is timed too and shared evenly among its batches."""

    def bare_forward(start: int) -> None:
        with torch.no_grad():
            torch.softmax(model(to_input(images[start : start + batch], model)), 1)

    pairs: list[tuple[float, float]] = []
    for _ in range(passes):
        batches, results, times = stage_batches(), [], []
        for start in range(0, len(images), batch):
            forward = lambda s=start: bare_forward(s)  # noqa: E731
            stage = lambda b=batches, r=results: r.append(next(b))  # noqa: E731
            if (len(pairs) + len(times)) % 2:
                stage_s, forward_s = _timed(stage), _timed(forward)
            else:
                forward_s, stage_s = _timed(forward), _timed(stage)
            times.append((forward_s, stage_s))
        with tempfile.TemporaryDirectory() as tmp:
            with pq.ParquetWriter(Path(tmp) / "s.parquet", SCHEMAS["scores"]) as writer:
                write_s = _timed(lambda w=writer, t=results: write_row_groups(w, t))
        pairs += [(f, s + write_s / len(times)) for f, s in times]
    return np.array(pairs)


def score_matrix(images: np.ndarray, region_maps: np.ndarray, num_classes: int, batch: int,
                 passes: int = 4) -> dict[str, float]:  # fmt: skip
    """Median over paired batches of bare-forward time / score-stage time, per
    "policy:aggregation" cell (>= 0.9 is the bar of #18; 1.0 = the statistics cost nothing).

    Same model (the presets' mobilenet_v2 DeepLabV3+, untrained: weights do not change the
    cost), images (uint8 (N, H, W, 3)), region maps (N, H, W) and batch for every cell; the stage
    is ``region_score_batches`` on CPU (forward + softmax, the policy's region statistics, the
    scores-table rows), timed by ``paired_times``.
    """
    model = bench_model(num_classes)
    with torch.no_grad():  # warm-up
        torch.softmax(model(to_input(images[:batch], model)), 1)
    result = {}
    for cell, policy in matrix_cells():

        def stage(p: Policy = policy) -> Iterator[pa.Table]:
            return region_score_batches(model, images, region_maps, p, batch, 0, "cpu",
                                        PriorAccumulator())  # fmt: skip

        pairs = paired_times(model, images, batch, stage, passes)
        result[cell] = float(np.median(pairs[:, 0] / pairs[:, 1]))
    return result


def matrix_table(matrix: dict[str, float]) -> str:
    """The matrix as a Markdown table: one row per policy, one column per aggregation."""
    rows: dict[str, dict[str, float]] = {}
    for cell, ratio in matrix.items():
        policy, how = cell.split(":")
        rows.setdefault(policy, {})[how] = ratio
    columns = [how for how in AGGREGATIONS if any(how in row for row in rows.values())]
    lines = ["| policy | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for policy, row in rows.items():
        cells = [f"{row[how]:.3f}" if how in row else "" for how in columns]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/default.yaml"))
    parser.add_argument("--camvid", action="store_true", help="configs/default-camvid.yaml")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench"))
    args = parser.parse_args()
    from alseg import regions
    from alseg.stages.regions import method_params
    from bench.perf import dataset_arrays

    torch.manual_seed(0)
    config, overrides = Path(args.config), {}
    if args.camvid:
        config = REPO / "configs/default-camvid.yaml"
        overrides = {
            "data.root": str(REPO.parent / "shared/data/camvid"),
            "data.max_train_images": args.images,
            "data.max_val_images": 4,
        }
    cfg, data = dataset_arrays(config, overrides, Path(args.runs_dir))
    images = np.ascontiguousarray(data.images("train")[: args.images])
    hw = tuple(data.image_size)
    maps = regions.compute_region_maps(images, "seeds", method_params(cfg.region, *hw), hw)
    num_classes = data.num_classes
    matrix = score_matrix(images, maps, num_classes, cfg.acquisition.batch_size, args.passes)
    print(f"{cfg.name}: {len(images)} images, batch {cfg.acquisition.batch_size}, "
          f"{args.passes} passes")  # fmt: skip
    print(matrix_table(matrix))


if __name__ == "__main__":
    main()
