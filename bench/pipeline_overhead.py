"""Local pipeline overhead: ``alseg run``'s wall time over the summed step time.

One ``alseg.runner.run_local`` per setting (no cache, a fresh run name): wall = its
``wall_seconds`` (MLflow set-up, compiling, every task, the report); step time = the sum of the
``[alseg] <step> · done in Xs`` lines of its log (``alseg.stages.run_stage``'s timer around each
stage function; not the task's interpreter start, imports of the stage's module, kfp.local's
work or MLflow logging, which are the overhead measured here). Split: ``outside_kfp`` (the
runner's MLflow set-up and run claim, compiling, the published report) and ``per_task`` (kfp's
pipeline time less the step time, per step). Settings: the default config, and a short one
(``train.iterations`` 40) where the fixed per-task cost weighs more.

    nice python bench/pipeline_overhead.py [--short-only] [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHORT = {"train.iterations": 40}
DONE = re.compile(r"\[alseg\] .* · done in ([0-9.]+)s")
CLOCK = re.compile(
    r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - (Running pipeline|Pipeline .* finished)", re.M
)


def step_seconds(log: str) -> float:
    """Sum of the ``done in Xs`` lines of a run's log."""
    return sum(float(seconds) for seconds in DONE.findall(log))


def pipeline_seconds(log: str) -> float:
    """kfp.local's time from the first 'Running pipeline' to the last 'Pipeline ... finished'
    line of a run's log (its HH:MM:SS.mmm clock)."""
    times = [
        (int(h) * 3600 + int(m) * 60 + float(s), event) for h, m, s, event in CLOCK.findall(log)
    ]
    start = next(t for t, event in times if event.startswith("Running"))
    return (times[-1][0] - start) % 86400


def measure(config: Path, runs_dir: Path, overrides: dict, label: str) -> dict:
    """Run ``config`` with ``overrides`` locally once: wall, summed step time, their ratio."""
    sys.path.insert(0, str(REPO))
    from alseg.config import load_config
    from alseg.runner import run_local

    cfg = load_config(config, {**overrides, "name": f"bench-pipeline-{label}"})
    run_name = f"bench-{label}-{int(time.time())}"
    with open(os.devnull, "w") as terminal:
        report = run_local(cfg, run_name=run_name, runs_dir=runs_dir, caching=False,
                           terminal=terminal)  # fmt: skip
    log = (runs_dir / "logs" / f"{report.get('run_name', run_name)}.log").read_text()
    steps, tasks, inside = step_seconds(log), len(DONE.findall(log)), pipeline_seconds(log)
    return {
        f"pipeline_{label}_wall_s": report["wall_seconds"],
        f"pipeline_{label}_step_s": round(steps, 1),
        f"pipeline_{label}_wall_over_step": report["wall_seconds"] / steps,
        f"pipeline_{label}_outside_kfp_s": round(report["wall_seconds"] - inside, 1),
        f"pipeline_{label}_per_task_s": round((inside - steps) / tasks, 2),
    }


def pipeline_overhead(config: Path, runs_dir: Path, default: bool = True) -> dict:
    """Wall over summed step time for ``config`` as is (``default``) and with ``SHORT``."""
    result = measure(config, runs_dir, {}, "default") if default else {}
    return {**result, **measure(config, runs_dir, SHORT, "short")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/default.yaml"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench"))
    parser.add_argument("--short-only", action="store_true", help="only train.iterations 40")
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    for key, value in pipeline_overhead(Path(args.config), runs_dir, not args.short_only).items():
        print(f"  {key:38s} {value:10.3f}")


if __name__ == "__main__":
    main()
