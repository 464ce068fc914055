"""Performance benchmark (`make bench`): every ratio is measured within one run of this script.

For the synthetic default and, when present, CamVid (``../shared/data/camvid`` or ``ALSEG_CAMVID``):
- superpixel (SEEDS) images/s on 1 core and on all cores;
- score stage time over bare model-forward time per batch (same model, batch, resolution) for
  every policy x aggregation (bench/score_matrix.py) and PixelPick, and each policy's
  statistics alone in ms per batch;
- train step time over bare forward+backward time; S4AL's step over the supervised one;
and for the default pipeline (as is, and at 40 training iterations): wall time over the summed
step time (bench/pipeline_overhead.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alseg import regions  # noqa: E402
from alseg.acquisition.pixelpick import top_uncertain  # noqa: E402
from alseg.acquisition.policies import PoolBatch, get_policy  # noqa: E402
from alseg.acquisition.uncertainty import pixel_uncertainty  # noqa: E402
from alseg.config import ModelConfig, TrainConfig, load_config  # noqa: E402
from alseg.models import build_model  # noqa: E402
from alseg.stages.pixels import pixel_score_batches  # noqa: E402
from alseg.stages.regions import method_params, pixel_region_maps  # noqa: E402
from alseg.train import criterion, to_input, train_model  # noqa: E402
from bench.score_matrix import bench_model, matrix_table, paired_times, score_matrix  # noqa: E402

POLICIES = ("entropy", "margin", "least_confidence", "bvsb", "classbal", "pixbal", "cbal", "oreal")


def timed(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bench_superpixels(images: np.ndarray | list[str], params: dict, out_hw) -> dict:
    cores = os.cpu_count() or 1
    n = len(images)
    one = timed(lambda: regions.compute_region_maps(images, "seeds", params, out_hw, workers=1))
    many = timed(
        lambda: regions.compute_region_maps(images, "seeds", params, out_hw, workers=cores)
    )
    return {
        "images": n,
        "seeds_img_per_s_1core": n / one,
        f"seeds_img_per_s_{cores}cores": n / many,
        "parallel_speedup": one / many,
    }


def preset_policy(name: str):
    """The policy as its preset configures it (OREAL: max aggregation)."""
    policy = get_policy(name)
    if name == "oreal":
        return get_policy(name, policy.Settings(aggregation="max"))
    return policy


def bench_score(images: np.ndarray, region_maps: np.ndarray, num_classes: int, batch: int,
                passes: int = 8) -> dict:  # fmt: skip
    """Score stage over bare forward: every policy x aggregation cell (``score_matrix``) and
    PixelPick's pixel pool (margin per pixel, top 5% per image), each the median over batches
    of forward time / stage time, a bare forward + softmax and the stage's work on the same
    batch timed back to back (``score_matrix.paired_times``): pairs cancel the drift of a shared
    machine's speed, which moves whole-pool timings by more than the overhead being measured.
    """
    model = bench_model(num_classes)
    pixel_maps = pixel_region_maps(np.zeros(region_maps.shape, np.uint8))
    no_labels = np.zeros((len(images), pixel_maps[0].size), bool)
    margin = get_policy("margin")

    def pixel_batches():
        return pixel_score_batches(model, images, pixel_maps, no_labels, margin, batch, 0, "cpu")

    with torch.no_grad():  # warm-up
        probs = torch.softmax(model(to_input(images[:batch], model)), 1)
    matrix = score_matrix(images, region_maps, num_classes, batch, passes)
    pairs = paired_times(model, images, batch, pixel_batches, passes)
    result = {
        "score_pairs_per_cell": len(pairs),
        "forward_img_per_s": batch / float(np.median(pairs[:, 0])),
        "score_pixelpick_over_forward": float(np.median(pairs[:, 0] / pairs[:, 1])),
        "score_pixelpick_overhead_ms_per_batch": 1e3 * np.median(pairs[:, 1] - pairs[:, 0]),
        "score_matrix": matrix,
    }
    result.update(bench_statistics(probs, torch.from_numpy(region_maps[:batch].astype(np.int64))))
    return result


def bench_statistics(probs: torch.Tensor, regions: torch.Tensor, repeats: int = 15) -> dict:
    """Milliseconds of each policy's statistics alone on one batch of model probabilities
    (median of ``repeats``): the part of the score stage that is not the forward."""
    n_regions = int(regions.max()) + 1
    excluded = torch.zeros(regions.shape, dtype=torch.bool)
    batch = PoolBatch(probs, regions, n_regions, 0, 0)
    policies = {name: preset_policy(name) for name in POLICIES}
    work = {name: lambda p=policy: p.region_statistics(batch) for name, policy in policies.items()}
    work["pixelpick"] = lambda: top_uncertain(pixel_uncertainty(probs, "margin"), excluded, 0.05)
    result = {}
    for policy, fn in work.items():
        fn()  # warm-up
        ms = np.median([1e3 * timed(fn) for _ in range(repeats)])
        result[f"statistics_{policy}_ms_per_batch"] = float(ms)
    return result


def bench_train(
    images: np.ndarray, labels: np.ndarray, num_classes: int, batch: int, steps: int
) -> dict:
    cfg = TrainConfig(iterations=steps, batch_size=batch)
    model = build_model("mobilenet_v2", num_classes=num_classes).train()
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = to_input(images[:batch], model)
    y = torch.from_numpy(labels[:batch].astype(np.int64))

    def bare_step() -> None:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    bare_step()
    bare_s = timed(bare_step, steps)
    targets = np.asarray(labels[: batch * 2])
    _, stats = train_model(
        images,
        targets,
        np.arange(len(targets)),
        num_classes,
        ModelConfig(),
        cfg,
        seed=0,
        device="cpu",
        log_every=0,
    )
    return {
        "bare_step_s": bare_s,
        "train_step_s": stats["seconds_per_step"],
        "train_over_bare": stats["seconds_per_step"] / bare_s,
    }


def bench_s4al(images: np.ndarray, labels: np.ndarray, num_classes: int, batch: int,
               steps: int, repeats: int = 3) -> dict:  # fmt: skip
    """Seconds per labelled batch of the S4AL trainer (student on the labelled batch, teacher +
    student on an unlabelled one, balanced ClassMix on from the start) over the supervised
    trainer's, same model and batch (issue #14: at most 2.2x): ``repeats`` pairs of trainings
    of ``steps`` steps, the first of each pair alternating; the median of the pair ratios."""
    from alseg.trainers.base import unlabelled_stream

    targets = np.asarray(labels[: batch * 2])
    labelled = np.arange(len(targets))
    complete = np.zeros(len(images), bool)
    complete[labelled] = True
    stream = unlabelled_stream(images, targets, labelled, complete)
    settings = {"supervised": {},
                "s4al": {"s4al": {"warmup_fraction": 0.0, "replay_size": batch,
                                  "balanced_start_fraction": 0.0}}}  # fmt: skip
    seconds: dict[str, list[float]] = {"supervised": [], "s4al": []}
    for repeat in range(repeats):
        for trainer in sorted(settings, reverse=repeat % 2 == 1):
            cfg = TrainConfig(iterations=steps, batch_size=batch, trainer=trainer,
                              **settings[trainer])  # fmt: skip
            _, stats = train_model(images, targets, labelled, num_classes, ModelConfig(), cfg, 0,
                                   device="cpu", log_every=0, unlabelled=stream)  # fmt: skip
            seconds[trainer].append(stats["seconds_per_step"])
    ratios = [t / s for t, s in zip(seconds["s4al"], seconds["supervised"], strict=True)]
    return {"supervised_step_s": float(np.median(seconds["supervised"])),
            "s4al_step_s": float(np.median(seconds["s4al"])),
            "s4al_over_supervised": float(np.median(ratios))}  # fmt: skip


def bench_pipeline(config: Path, runs_dir: Path) -> dict:
    """bench/pipeline_overhead.py: wall over summed step time of ``alseg run``, on ``config``
    as is and with 40 training iterations (one run each)."""
    from bench.pipeline_overhead import pipeline_overhead

    return pipeline_overhead(config, runs_dir.resolve())


def dataset_arrays(config: Path, overrides: dict, runs_dir: Path):
    from alseg.data.prepared import PreparedDataset
    from alseg.stages import prepare

    cfg = load_config(config, overrides)
    key = hashlib.sha256(cfg.data.model_dump_json().encode()).hexdigest()[:8]
    out = runs_dir / f"bench-prepared-{cfg.name}-{key}"  # one folder per data setting
    if not out.exists():
        prepare.run(cfg.data, out)
    return cfg, PreparedDataset.open(out)


def run_suite(name: str, config: Path, overrides: dict, runs_dir: Path, n_images: int) -> dict:
    cfg, data = dataset_arrays(config, overrides, runs_dir)
    images = np.ascontiguousarray(data.images("train")[:n_images])
    labels = np.ascontiguousarray(data.labels("train")[:n_images])
    height, width = data.image_size
    table = data.table()
    uris = [
        u
        for u, s in zip(table["image_uri"].to_pylist(), table["split"].to_pylist(), strict=True)
        if s == "train" and u
    ][:n_images]
    sources = uris if cfg.region.full_resolution and uris else images
    full_hw = (360, 480) if sources is uris else (height, width)
    params = method_params(cfg.region, *full_hw)
    result = {"dataset": name, "resolution": f"{height}x{width}"}
    result.update(bench_superpixels(sources, params, (height, width)))
    maps = regions.compute_region_maps(
        images, "seeds", method_params(cfg.region, height, width), (height, width)
    )
    result.update(bench_score(images, maps, data.num_classes, cfg.acquisition.batch_size))
    result.update(bench_train(images, labels, data.num_classes, cfg.train.batch_size, steps=5))
    result.update(bench_s4al(images, labels, data.num_classes, cfg.train.batch_size, steps=20))
    return result


def bench_scale(full: bool) -> dict:
    """bench/scale.py: peak RSS by pool size (printed as a table), and with ``full`` the
    Cityscapes-size pool's seconds and peak per step."""
    from bench import scale

    memory = scale.memory_by_pool_size()
    scale.print_memory(memory)
    largest = memory["sizes"][-1]
    scale.print_steps(memory["steps"][largest], f"One round at {largest} pool images")
    result = {"memory": memory}
    if full:
        result["cityscapes_size"] = scale.scale_simulation()
        scale.print_steps(result["cityscapes_size"]["steps"], "Cityscapes-size pool")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench"))
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-scale", action="store_true", help="no pool-size memory rows")
    parser.add_argument("--skip-bytes", action="store_true", help="no bytes-moved rows")
    parser.add_argument(
        "--scale-full", action="store_true", help="also the 2,975-image pool (bench/scale.py)"
    )
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    results = [run_suite("synthetic", REPO / "configs/default.yaml", {}, runs_dir, args.images)]
    camvid = Path(os.environ.get("ALSEG_CAMVID", REPO.parent / "shared/data/camvid"))
    if (camvid / "train").is_dir():
        overrides = {
            "data.root": str(camvid),
            "data.max_train_images": args.images,
            "data.max_val_images": 4,
        }
        results.append(
            run_suite(
                "camvid", REPO / "configs/default-camvid.yaml", overrides, runs_dir, args.images
            )
        )
    else:
        print(f"CamVid not found at {camvid}: skipping the CamVid rows")
    if not args.skip_pipeline:
        results[0].update(bench_pipeline(REPO / "configs/default.yaml", runs_dir))
    for row in results:
        print(f"\n## {row['dataset']} ({row['resolution']}, {row['images']} images)")
        for key, value in row.items():
            if isinstance(value, float | int):
                print(f"  {key:38s} {value:10.3f}")
        if "score_matrix" in row:  # score stage / bare forward, per policy x aggregation
            print(matrix_table(row["score_matrix"]))
    if not args.skip_scale:  # peak RSS of score / select / oracle at 50 / 367 / 3,000 images
        results.append({"dataset": "scale", **bench_scale(args.scale_full)})
    if not args.skip_bytes:  # bytes a score task moves, before / after sharded ranged reads
        from bench import bytes_moved

        moved = bytes_moved.bytes_moved(camvid if (camvid / "train").is_dir() else None)
        bytes_moved.print_bytes_moved(moved)
        results.append({"dataset": "bytes_moved", **moved})
    (runs_dir / "bench.json").write_text(json.dumps(results, indent=1))
    print(f"\nraw numbers: {runs_dir / 'bench.json'}")


if __name__ == "__main__":
    main()
