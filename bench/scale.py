"""Scale benchmarks (#18): peak memory of the pool-wide stages against the pool size, and a
synthetic Cityscapes-size pool through regions -> init -> oracle -> score -> select -> oracle.

The synthetic pool: ``n`` train images at a reduced size (default 64 x 128, random RGB, ground
truth in 8 x 8 blocks of 19 classes), grid regions of 2 x 2 pixels = 2,048 regions per image
(Cityscapes' superpixel count), dominant labels, 1 % of the regions per round (20 clicks per
image), the entropy policy with an untrained mobilenet_v2 DeepLabV3+ (weights do not change
the cost). Every stage runs through the stage registry (``registry.call``, as ``alseg step``
and the KFP components do) in a fresh Python process, which reports its wall time and its peak
resident set (``VmHWM`` of /proc/self/status: the whole process, interpreter and imports
included, file-backed pages of memory-mapped arrays included).

    python bench/scale.py                     # memory at 50 / 367 / 3,000 images (~6 min)
    python bench/scale.py --sizes 50 367      # quicker
    python bench/scale.py --full              # also the 2,975-image Cityscapes-size run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alseg.config import AcquisitionConfig, ModelConfig  # noqa: E402
from alseg.data.prepared import write_meta  # noqa: E402
from alseg.tables import write_table  # noqa: E402

NUM_CLASSES, SIZE, CELL = 19, (64, 128), 2  # 2,048 regions of 2 x 2 pixels per image
STEPS = ("regions", "init", "oracle_0", "score", "select", "oracle_1")

# One stage in a fresh process; prints its wall seconds, peak RSS (MB) and whether torch loaded.
_CHILD = """
import json, sys, time
start = time.perf_counter()
from alseg.stages import registry
a = json.loads(sys.argv[1])
registry.call(a["stage"], a["params"], a["folders"], a["out"], a["round"])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print("SCALE=" + json.dumps({"seconds": time.perf_counter() - start, "peak_mb": hwm / 1024,
                             "torch": "torch" in sys.modules}))
"""


def write_prepared(root: Path, n_images: int, size: tuple[int, int] = SIZE, seed: int = 0) -> None:
    """A prepared dataset of ``n_images`` train images, written in chunks (no (N, H, W) copy)."""
    import pyarrow as pa

    root.mkdir(parents=True)
    h, w = size
    images = np.lib.format.open_memmap(
        root / "train_images.npy", "w+", np.uint8, (n_images, h, w, 3)
    )
    labels = np.lib.format.open_memmap(root / "train_labels.npy", "w+", np.uint8, (n_images, h, w))
    rng = np.random.default_rng(seed)
    for start in range(0, n_images, 256):
        n = min(256, n_images - start)
        images[start : start + n] = rng.integers(0, 256, (n, h, w, 3), np.uint8)
        blocks = rng.integers(0, NUM_CLASSES, (n, h // 8, w // 8), np.uint8)
        labels[start : start + n] = blocks.repeat(8, axis=1).repeat(8, axis=2)
    images.flush(), labels.flush()
    del images, labels
    table = pa.table({
        "image_id": [f"synthetic_{i:05d}" for i in range(n_images)],
        "split": ["train"] * n_images, "index": np.arange(n_images, dtype=np.int32),
        "image_uri": [""] * n_images, "label_uri": [""] * n_images,
        "height": np.full(n_images, h, np.int32), "width": np.full(n_images, w, np.int32),
    })  # fmt: skip
    write_table(table, root / "images.parquet", "images")
    write_meta(root, [f"c{i}" for i in range(NUM_CLASSES)], size, {"train": n_images})


def write_model(folder: Path) -> None:
    """An untrained default model checkpoint (the forward cost does not depend on the weights)."""
    from alseg.models import build_model
    from alseg.train import save_checkpoint

    folder.mkdir(parents=True)
    config = ModelConfig()
    model = build_model(config.backbone, num_classes=NUM_CLASSES, load_weights=False)
    save_checkpoint(model, folder, {"num_classes": NUM_CLASSES, "model": config.model_dump()})


def _stage(stage: str, params: dict, folders: dict, out: Path, round_index: int | None) -> dict:
    """Run one stage in a fresh process -> {seconds, peak_mb, torch}."""
    args = {"stage": stage, "params": params, "folders": {k: str(v) for k, v in folders.items()},
            "out": str(out), "round": round_index}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True,
                          text=True, env=env, cwd=REPO)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{stage} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("SCALE="))
    return json.loads(line.removeprefix("SCALE="))


def run_pool(n_images: int, root: Path, batch_size: int = 16) -> dict[str, dict]:
    """Every step of one round on a synthetic pool of ``n_images``: step -> {seconds, peak_mb}."""
    write_prepared(root / "prepared", n_images)
    write_model(root / "model")
    clicks = 20 * n_images  # 1 % of 2,048 regions per image
    params = {
        "seed": 0, "device": "cpu", "label": {"type": "dominant"},
        "data": {"dataset": "synthetic", "image_size": list(SIZE), "workers": None},
        "region": {"type": "grid", "size": CELL},
        "budget": {"initial_clicks": clicks, "clicks_per_round": clicks, "overshoot": False},
        "acquisition": AcquisitionConfig(policy="entropy", batch_size=batch_size).model_dump(),
    }  # fmt: skip
    f = {name: root / name for name in ("prepared", "regions", "init", "model", "scores")}
    runs = [
        ("regions", "regions", {"prepared": f["prepared"]}, f["regions"], None),
        ("init", "init", f, f["init"], None),
        ("oracle_0", "oracle", {**f, "queries": f["init"]}, root / "labels_0", 0),
        ("score", "score", {**f, "labels": root / "labels_0"}, f["scores"], 1),
        ("select", "select", {**f, "labels": root / "labels_0"}, root / "queries_1", 1),
        ("oracle_1", "oracle", {**f, "queries": root / "queries_1",
                                "previous_labels": root / "labels_0"}, root / "labels_1", 1),
    ]  # fmt: skip
    return {step: _stage(stage, params, folders, out, r) for step, stage, folders, out, r in runs}


def memory_by_pool_size(sizes: tuple[int, ...] = (50, 367, 3000)) -> dict:
    """Peak RSS (MB) of score, select and oracle (round 1) at each pool size, and the ratios
    largest / smallest; also every step's seconds and peak (``steps``)."""
    steps = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="alseg-scale-") as tmp:
            steps[n] = run_pool(n, Path(tmp))
    out = {"sizes": list(sizes), "steps": steps}
    for step in ("score", "select", "oracle_1"):
        out[f"{step}_peak_mb"] = [round(steps[n][step]["peak_mb"], 1) for n in sizes]
        out[f"{step}_ratio"] = round(steps[sizes[-1]][step]["peak_mb"]
                                     / steps[sizes[0]][step]["peak_mb"], 3)  # fmt: skip
    return out


def scale_simulation(n_images: int = 2975) -> dict:
    """A Cityscapes-size pool (2,975 images x 2,048 regions = 6.1 M regions at 64 x 128):
    seconds and peak RSS (MB) per step, and images per second of the score step."""
    with tempfile.TemporaryDirectory(prefix="alseg-scale-") as tmp:
        steps = run_pool(n_images, Path(tmp))
    return {"images": n_images, "regions": n_images * 2048, "steps": steps,
            "score_images_per_second": round(n_images / steps["score"]["seconds"], 2)}  # fmt: skip


def print_memory(result: dict) -> None:
    sizes = result["sizes"]
    print(f"\n## Peak RSS (MB) by pool size ({SIZE[0]}x{SIZE[1]}, 2,048 regions per image)")
    print(f"  {'step':10s}" + "".join(f"{n:>10d}" for n in sizes) + f"{'ratio':>8s}")
    for step in ("score", "select", "oracle_1"):
        peaks = "".join(f"{p:10.0f}" for p in result[f"{step}_peak_mb"])
        print(f"  {step:10s}{peaks}{result[f'{step}_ratio']:8.3f}")


def print_steps(steps: dict, title: str) -> None:
    print(f"\n## {title}")
    print(f"  {'step':10s}{'seconds':>10s}{'peak MB':>10s}  torch")
    for step in STEPS:
        s = steps[step]
        print(f"  {step:10s}{s['seconds']:10.1f}{s['peak_mb']:10.0f}  {s['torch']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 367, 3000])
    parser.add_argument("--full", action="store_true", help="also the 2,975-image simulation")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    result = {"memory": memory_by_pool_size(tuple(args.sizes))}
    print_memory(result["memory"])
    largest = max(args.sizes)
    print_steps(result["memory"]["steps"][largest], f"One round at {largest} pool images")
    if args.full:
        result["scale"] = scale_simulation()
        print_steps(result["scale"]["steps"], "Cityscapes-size pool (2,975 images, 6.1 M regions)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
