"""Label-efficiency benchmark on CamVid (`make bench-al`): every acquisition policy, PixelPick and
MulActSeg against random at equal clicks per round, plus full supervision, in the setting of
``configs/bench-camvid.yaml``; then one table built from MLflow (BENCHMARKS.md).

    python bench/label_efficiency.py [--runs-dir runs] [--report-only]

Each step is an ordinary ``alseg sweep`` / ``alseg run`` (kfp.local, caching, MLflow experiment
``bench-al``), so an interrupted benchmark resumes where it stopped. The table reads the rounds
back from MLflow: it also covers experiments run earlier into the same experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "bench-al"
STEPS = [
    ("sweep", "configs/sweeps/acquisition-camvid.yaml"),
    ("sweep", "configs/sweeps/pixelpick-camvid.yaml"),
    ("sweep", "configs/sweeps/mulactseg-camvid.yaml"),
    ("run", "configs/full-bench-camvid.yaml"),
]
FULL = "full-bench-camvid"


def run_steps(runs_dir: Path) -> dict[str, float]:
    """Run every step (resuming through the cache); wall seconds per step."""
    alseg = Path(sys.executable).with_name("alseg")
    walls = {}
    for kind, path in STEPS:
        start = time.perf_counter()
        cmd = [str(alseg), kind, path, "--experiment", EXPERIMENT, "--runs-dir", str(runs_dir)]
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=REPO, check=True)
        walls[path] = round(time.perf_counter() - start, 1)
    return walls


def read_curves(tracking_uri: str) -> dict[str, list[dict]]:
    """{experiment run name: [round metrics, by round]} of the MLflow experiment."""
    from mlflow.tracking import MlflowClient

    from alseg.tracking import ROUND_TAG, RUN_TAG

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        raise SystemExit(f"{tracking_uri}: no MLflow experiment '{EXPERIMENT}' (run the steps)")
    curves: dict[str, list[dict]] = {}
    for run in client.search_runs([found.experiment_id], max_results=5000):
        tags = run.data.tags
        if tags.get(ROUND_TAG, "parent") != "parent":
            row = {"round": int(tags[ROUND_TAG]), **run.data.metrics}
            curves.setdefault(tags[RUN_TAG], []).append(row)
    return {name: sorted(rows, key=lambda r: r["round"]) for name, rows in curves.items()}


def table(curves: dict[str, list[dict]]) -> str:
    """Markdown per experiment: mIoU per round, clicks, % of training pixels labelled (last
    round), AuALC, Gini and % of full supervision (last round)."""
    full = curves.get(FULL, [{}])[-1].get("miou")
    rounds = max(len(rows) for name, rows in curves.items() if name != FULL)
    head = ["experiment", *(f"r{r} mIoU" for r in range(rounds)), "clicks", "% px labelled",
            "AuALC", "Gini", "% of full"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, rows in sorted(curves.items()):
        if name == FULL:
            continue
        miou = [f"{100 * r['miou']:.2f}" for r in rows] + ["-"] * (rounds - len(rows))
        last = rows[-1]
        clicks = "/".join(str(int(r["clicks"])) for r in rows)
        pct = f"{100 * last['miou'] / full:.1f}" if full else "-"
        lines.append(f"| {name} | " + " | ".join(miou) + f" | {clicks} | "
                     f"{last['labeled_pixels_pct']:.2f} | {last['auALC']:.2f} | "
                     f"{last.get('gini', float('nan')):.3f} | {pct} |")  # fmt: skip
    if full:
        lines.append(f"\nFull supervision ({FULL}): mIoU {100 * full:.2f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default=str(REPO / "runs"))
    parser.add_argument("--report-only", action="store_true", help="only build the table")
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir).resolve()
    out = runs_dir / EXPERIMENT
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        walls = run_steps(runs_dir)
        (out / "walls.json").write_text(json.dumps(walls, indent=1))
    uri = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{runs_dir / 'mlflow.db'}")
    curves = read_curves(uri)
    markdown = table(curves)
    (out / "curves.json").write_text(json.dumps(curves, indent=1))
    (out / "label-efficiency.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\n{out / 'label-efficiency.md'}")


if __name__ == "__main__":
    main()
