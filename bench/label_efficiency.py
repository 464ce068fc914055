"""CamVid label-efficiency benchmark (`make bench-al`, `make bench-al-quick`): every method at
equal clicks against random and against full supervision, several seeds, in the setting of
``configs/bench-camvid.yaml`` (BENCHMARKS.md "Protocol").

    python bench/label_efficiency.py run [--seeds 0 1 2] [--arms ...] [--quick]
    python bench/label_efficiency.py report

``run`` runs each (arm, seed) not yet in the results CSV as an ordinary ``alseg run`` (kfp.local,
one runs folder, so arms with the same seed share round 0 through the cache) and appends one row
per round (commit, config hash, seed, round, clicks, mIoU, per-class IoU, wall and CPU seconds):
an interrupted benchmark, or one split over several days, adds up. ``report`` builds every table,
the claim verdicts and the AL-curve plot from the CSV alone, using the rows whose config hash is
the current preset's.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CSV_PATH = RESULTS / "label_efficiency.csv"
EXPERIMENT = "bench-al"
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist")  # fmt: skip
RARE_CLASSES = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist", "Fence")
COLUMNS = ["commit", "config_hash", "arm", "seed", "round", "clicks", "pool_cost",
           "labelled_pixels_pct", "miou", *(f"iou_{c}" for c in CAMVID_CLASSES), "iterations",
           "wall_s", "cpu_s", "finished"]  # fmt: skip
SEEDS = (0, 1, 2)
MAX_CONVERGENCE_GAP = 1.0  # mIoU points full supervision may gain from a doubled schedule


@dataclass(frozen=True)
class Arm:
    """One benchmark arm: a preset plus overrides."""

    name: str
    preset: str
    overrides: dict = field(default_factory=dict)
    kind: str = "al"  # "al", "full" (the reference) or "full-2x" (the convergence check)


def _policy(policy: str, **extra: object) -> Arm:
    return Arm(policy, "configs/bench-camvid.yaml", {"acquisition.policy": policy, **extra})


ARMS = [
    Arm("full", "configs/full-bench-camvid.yaml", kind="full"),
    Arm("full-2x", "configs/full-bench-camvid.yaml", kind="full-2x"),  # twice the iterations
    _policy("random"),
    _policy("entropy"),
    _policy("oreal", **{"acquisition.oreal.aggregation": "max"}),
    _policy("classbal"),
    _policy("pixbal"),
    _policy("cbal"),
    Arm("mulactseg", "configs/mulactseg-bench-camvid.yaml"),
    Arm("pixelpick", "configs/pixelpick-bench-camvid.yaml"),
]
QUICK = ("full", "random", "entropy", "oreal")  # (a) and (d) on one seed (hours on 2 cores)
BY_NAME = {arm.name: arm for arm in ARMS}


def arm_config(arm: Arm, seed: int, data_root: str | None = None):
    """The validated ExperimentConfig of ``arm`` at ``seed``."""
    from alseg.config import load_config

    overrides = {**arm.overrides, "seed": seed}
    if data_root:
        overrides["data.root"] = data_root
    cfg = load_config(REPO / arm.preset, overrides)
    if arm.kind == "full-2x":  # the convergence check: the preset's schedule doubled
        overrides["train.iterations"] = 2 * cfg.train.iterations
        cfg = load_config(REPO / arm.preset, overrides)
    return cfg


def config_hash(cfg) -> str:
    """sha256[:12] of the settings that differ from the defaults, without name, seed, data root
    and cluster settings: rows of one setting share it across seeds, machines, dataset locations
    and later versions that add config fields (at their defaults)."""
    dumped = cfg.model_dump(mode="json", exclude={"name", "seed", "cluster"}, exclude_defaults=True)
    dumped.get("data", {}).pop("root", None)
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- CSV


def read_rows(path: Path = CSV_PATH) -> list[dict]:
    """The CSV's rows with numbers parsed (missing file: no rows)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("seed", "round", "clicks", "pool_cost", "iterations"):
            row[key] = int(row[key])
        for key in COLUMNS:
            if key.startswith("iou_") or key in ("miou", "labelled_pixels_pct", "wall_s", "cpu_s"):
                row[key] = float(row[key]) if row[key] not in ("", "nan") else float("nan")
    return rows


def append_rows(rows: list[dict], path: Path = CSV_PATH) -> None:
    """Append rows (header first when the file is new); flushed and fsynced at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def done(rows: list[dict], arm: str, seed: int, chash: str) -> bool:
    return any(r["arm"] == arm and r["seed"] == seed and r["config_hash"] == chash for r in rows)


def result_rows(report: dict, arm: Arm, seed: int, chash: str, commit: str, wall: float,
                cpu: float) -> list[dict]:  # fmt: skip
    """One CSV row per round of ``alseg run``'s report."""
    rows = []
    for m in report["rounds"]:
        iou = dict(zip(m["classes"], m["iou"], strict=True))
        rows.append({
            "commit": commit, "config_hash": chash, "arm": arm.name, "seed": seed,
            "round": m["round"], "clicks": m["clicks"], "pool_cost": m["pool_cost"],
            "labelled_pixels_pct": round(m["labelled_pixels_pct"], 5), "miou": round(m["miou"], 6),
            **{f"iou_{c}": round(iou.get(c, float("nan")), 6) for c in CAMVID_CLASSES},
            "iterations": report["iterations"], "wall_s": wall, "cpu_s": cpu,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })  # fmt: skip
    return rows


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip() or "unknown"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_arms(arms: Iterable[Arm], seeds: Iterable[int], runs_dir: Path, csv_path: Path,
             data_root: str | None) -> None:  # fmt: skip
    """Run every (arm, seed) missing from the CSV, seed-major, appending rows as each ends."""
    from alseg.runner import run_local

    commit = _commit()
    hashes = current_hashes(data_root)
    for seed in seeds:
        for arm in arms:
            cfg = arm_config(arm, seed, data_root)
            chash = config_hash(cfg)
            rows = read_rows(csv_path)
            if done(rows, arm.name, seed, chash):
                continue
            if arm.kind == "al" and (gap := convergence_gap(rows, hashes)) is not None \
                    and gap > MAX_CONVERGENCE_GAP:  # fmt: skip
                print(
                    f"[bench-al] {arm.name}: skipped, the schedule is not converged (doubling "
                    f"it gains {gap:.2f} mIoU points > {MAX_CONVERGENCE_GAP})",
                    flush=True,
                )
                continue
            print(f"[bench-al] {arm.name} seed {seed} ({chash})", flush=True)
            start, cpu = time.perf_counter(), _children_cpu()
            report = run_local(cfg, run_name=f"bench-{arm.name}-s{seed}", runs_dir=runs_dir,
                               experiment=EXPERIMENT)  # fmt: skip
            report["iterations"] = cfg.train.iterations
            wall = round(time.perf_counter() - start, 1)
            rows = result_rows(report, arm, seed, chash, commit, wall,
                               round(_children_cpu() - cpu, 1))  # fmt: skip
            append_rows(rows, csv_path)
            print(f"[bench-al] {arm.name} seed {seed}: mIoU "
                  + " / ".join(f"{100 * r['miou']:.2f}" for r in rows)
                  + f" ({wall:.0f} s)", flush=True)  # fmt: skip


def convergence_gap(rows: list[dict], hashes: dict[str, str]) -> float | None:
    """mIoU points full supervision gains from the doubled schedule (seed 0, current presets);
    None until both rows exist. AL arms run only when it is at most MAX_CONVERGENCE_GAP."""
    found = {r["arm"]: r["miou"] for r in rows
             if r["seed"] == 0 and r["config_hash"] == hashes.get(r["arm"])}  # fmt: skip
    if "full" not in found or "full-2x" not in found:
        return None
    return 100 * (found["full-2x"] - found["full"])


# ----------------------------------------------------------------------------- statistics


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std (ddof 1; 0 for one value), n)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0, len(a)


def auc(clicks: list[float], miou: list[float]) -> float:
    """AuALC in mIoU points: the trapezoid under mIoU (%) over clicks normalised to [0, 1]."""
    from alseg.metrics import al_curve_area

    return al_curve_area(np.asarray(clicks), 100 * np.asarray(miou))


def curves(rows: list[dict]) -> dict[str, dict[int, list[dict]]]:
    """{arm: {seed: rows by round}}."""
    out: dict[str, dict[int, list[dict]]] = {}
    for row in rows:
        out.setdefault(row["arm"], {}).setdefault(row["seed"], []).append(row)
    for seeds in out.values():
        for seed_rows in seeds.values():
            seed_rows.sort(key=lambda r: r["round"])
    return out


def rare_iou(row: dict) -> float:
    """Mean IoU (%) over the rare classes (NaN classes skipped)."""
    values = [row[f"iou_{c}"] for c in RARE_CLASSES if not np.isnan(row[f"iou_{c}"])]
    return 100 * float(np.mean(values)) if values else float("nan")


def paired(a: dict[int, list[dict]], b: dict[int, list[dict]], value) -> list[float]:
    """value(rows of a) - value(rows of b) for each seed both have (same seed = same round 0)."""
    return [value(a[s]) - value(b[s]) for s in sorted(set(a) & set(b))]


def verdict(diffs: list[float]) -> str:
    """'above' when every seed's difference is > 0 and the mean exceeds the seed-to-seed spread
    (sample std), 'below' mirrored, else 'tie'; 'one seed' when it cannot be tested."""
    if len(diffs) < 2:
        return "one seed (not testable)"
    mean, std, _ = mean_std(diffs)
    if min(diffs) > 0 and mean > std:
        return "above"
    if max(diffs) < 0 and -mean > std:
        return "below"
    return "tie"


# ----------------------------------------------------------------------------- report


def fmt(ms: tuple[float, float, int]) -> str:
    mean, std, n = ms
    return f"{mean:.2f} ± {std:.2f} ({n})" if n > 1 else f"{mean:.2f} (1)"


def _pct(row: dict, pool: int) -> float:
    return 100.0 * row["clicks"] / pool


def report(rows: list[dict], current: dict[str, str] | None = None) -> dict:
    """Tables and claim verdicts from the CSV rows (``current``: arm -> config hash to keep;
    None keeps every row). Returns {"markdown": str, "curves": {arm: (x %, mean, lo, hi)},
    "claims": {...}}."""
    if current is not None:
        rows = [r for r in rows if current.get(r["arm"]) == r["config_hash"]]
    by_arm = curves(rows)
    full = by_arm.get("full", {})
    full_miou = mean_std([100 * seed_rows[-1]["miou"] for seed_rows in full.values()]) if full \
        else None  # fmt: skip
    al_arms = [a.name for a in ARMS if a.kind == "al" and a.name in by_arm]
    al_arms += sorted(a for a in by_arm if a not in BY_NAME)
    pool = _reference_pool(by_arm)
    lines = ["### Results (mean ± std over seeds, (n) = seeds)", ""]
    if full_miou:
        lines.append(f"Full supervision: mIoU {fmt(full_miou)}.")
    if "full-2x" in by_arm:
        twice = mean_std([100 * s[-1]["miou"] for s in by_arm["full-2x"].values()])
        lines.append(f"Full supervision, schedule doubled: mIoU {fmt(twice)} "
                     f"(difference {twice[0] - full_miou[0]:+.2f} points).")  # fmt: skip
    lines.append("")
    n_rounds = max((len(s) for a in al_arms for s in by_arm[a].values()), default=0)
    head = ["arm", *(f"r{r} mIoU" for r in range(n_rounds)), "AuALC", "rare-class IoU (last)",
            "% of full (last)", "% px labelled (last)"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    plot: dict[str, tuple] = {}
    for arm in al_arms:
        seeds = by_arm[arm]
        per_round = []
        for r in range(n_rounds):
            values = [100 * s[r]["miou"] for s in seeds.values() if len(s) > r]
            per_round.append(mean_std(values) if values else None)
        complete = [s for s in seeds.values() if len(s) == n_rounds]
        au = mean_std([auc([r["clicks"] for r in s], [r["miou"] for r in s]) for s in complete]) \
            if complete else None  # fmt: skip
        last = [s[-1] for s in complete]
        rare = mean_std([rare_iou(r) for r in last]) if last else None
        pct_full = (mean_std([100 * 100 * r["miou"] / full_miou[0] for r in last])
                    if last and full_miou else None)  # fmt: skip
        px = mean_std([r["labelled_pixels_pct"] for r in last]) if last else None
        cells = [fmt(c) if c else "-" for c in (*per_round, au, rare, pct_full)]
        cells.append(f"{px[0]:.3f}" if px else "-")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        if complete:
            x = [_pct(r, pool) for r in complete[0]]
            y = np.array([[100 * r["miou"] for r in s] for s in complete])
            plot[arm] = (x, y.mean(0), y.min(0), y.max(0))
    clicks = sorted({r["clicks"] for a in al_arms for s in by_arm[a].values() for r in s})
    if clicks:
        lines.append("")
        lines.append(
            "Clicks per round: "
            + ", ".join(
                f"{c} ({100 * c / pool:.2f}% of the region pool)" for c in clicks[:n_rounds]
            )
        )
    lines += ["", *_rare_table(by_arm, al_arms), "", *_paired_table(by_arm, al_arms)]
    claims = _claims(by_arm, full_miou, pool)
    lines += ["", "### Claims", "", *(f"- **({k})** {v}" for k, v in claims.items())]
    return {"markdown": "\n".join(lines), "curves": plot, "claims": claims,
            "full": full_miou, "pool": pool}  # fmt: skip


def _reference_pool(by_arm: dict) -> int:
    """The region pool's cost with dominant labels (one click per region): every arm's x axis."""
    for arm in ("random", "entropy"):
        for seed_rows in by_arm.get(arm, {}).values():
            return seed_rows[0]["pool_cost"]
    return 1


def _rare_table(by_arm: dict, arms: list[str]) -> list[str]:
    head = ["arm (last round)", *RARE_CLASSES, "mean rare", "mIoU"]
    lines = ["Per-class IoU of the rare classes, last round (mean over seeds, %):", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]  # fmt: skip
    for arm in ["full", *arms]:
        if arm not in by_arm:
            continue
        last = [s[-1] for s in by_arm[arm].values()]
        cells = [f"{100 * np.nanmean([r[f'iou_{c}'] for r in last]):.2f}" for c in RARE_CLASSES]
        cells += [f"{np.mean([rare_iou(r) for r in last]):.2f}",
                  f"{100 * np.mean([r['miou'] for r in last]):.2f}"]  # fmt: skip
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def _seed_auc(seed_rows: list[dict]) -> float:
    return auc([r["clicks"] for r in seed_rows], [r["miou"] for r in seed_rows])


def _paired_table(by_arm: dict, arms: list[str]) -> list[str]:
    """Paired differences against random (same seed = same round-0 set), mIoU points."""
    if "random" not in by_arm:
        return []
    lines = [
        "Paired differences against random at equal clicks (mIoU points, mean ± std over "
        "seeds; verdict: above/below when every seed agrees and the mean exceeds the std):",
        "",
        "| arm | AuALC diff | last-round diff | verdict (AuALC) |",
        "|---|---|---|---|",
    ]
    for arm in arms:
        if arm == "random":
            continue
        au = paired(by_arm[arm], by_arm["random"], _seed_auc)
        last = paired(by_arm[arm], by_arm["random"], lambda s: 100 * s[-1]["miou"])
        if au:
            lines.append(f"| {arm} | {fmt(mean_std(au))} | {fmt(mean_std(last))} | "
                         f"{verdict(au)} |")  # fmt: skip
    return lines


def _claims(by_arm: dict, full: tuple | None, pool: int) -> dict[str, str]:
    """The five hypotheses of the protocol, each with the numbers behind it."""
    claims = {}
    region_arms = [a for a in by_arm if BY_NAME.get(a, Arm(a, "")).kind == "al"]
    if full:
        best, best_pct = None, -1.0
        for arm in region_arms:
            # at most 5% of the pool's clicks (5.05: the schedule rounds 5% to whole clicks)
            at5 = [r for s in by_arm[arm].values() for r in s if _pct(r, pool) <= 5.05]
            if at5:
                top = max(r["clicks"] for r in at5)
                value = np.mean([100 * r["miou"] for r in at5 if r["clicks"] == top])
                pct = 100 * value / full[0]
                if pct > best_pct:
                    best, best_pct = arm, pct
        claims["a"] = (f"best arm at <= 5% of the pool's clicks: {best} at {best_pct:.1f}% of full "
                       f"supervision -> {'confirmed' if best_pct >= 95 else 'not confirmed'}"
                       if best else "no data")  # fmt: skip
    if "mulactseg" in by_arm:
        lines = []
        for other in ("pixbal", "entropy"):
            if other in by_arm:
                d = paired(by_arm["mulactseg"], by_arm[other], _seed_auc)
                lines.append(f"vs {other} (dominant) AuALC diff {fmt(mean_std(d))}: "
                             f"{verdict(d)}")  # fmt: skip
        claims["b"] = "multi-class labels " + "; ".join(lines) if lines else "no data"
    if "entropy" in by_arm:
        parts = []
        for arm in ("classbal", "pixbal", "cbal", "oreal"):
            if arm in by_arm:
                d = paired(by_arm[arm], by_arm["entropy"], lambda s: rare_iou(s[-1]))
                parts.append(f"{arm} {fmt(mean_std(d))} ({verdict(d)})")
        claims["c"] = ("rare-class IoU, last round, paired diff vs entropy: " + ", ".join(parts)
                       if parts else "no data")  # fmt: skip
    if "random" in by_arm:
        parts = []
        for arm in region_arms:
            if arm != "random" and arm in by_arm:
                parts.append(f"{arm} {verdict(paired(by_arm[arm], by_arm['random'], _seed_auc))}")
        claims["d"] = "AuALC vs random: " + ", ".join(parts)
    if "pixelpick" in by_arm and full:
        last = [s[-1] for s in by_arm["pixelpick"].values()]
        pct = 100 * np.mean([100 * r["miou"] for r in last]) / full[0]
        px = np.mean([r["labelled_pixels_pct"] for r in last])
        ok = pct >= 90 and px < 0.1
        claims["e"] = (f"PixelPick at {pct:.1f}% of full with {px:.3f}% of the pixels labelled "
                       f"-> {'confirmed' if ok else 'not confirmed'}")  # fmt: skip
    return {key: claims.get(key, "no data") for key in "abcde"}


def plot_curves(result: dict, path: Path) -> None:
    """AL curves: mIoU against % of the region pool's clicks, mean line and min-max band over
    seeds per arm; full supervision as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for arm, (x, mean, lo, hi) in result["curves"].items():
        (line,) = ax.plot(x, mean, marker="o", label=arm)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
    if result["full"]:
        ax.axhline(result["full"][0], color="black", linestyle="--", label="full supervision")
    ax.set_xscale("log")
    ax.set_xlabel("clicks, % of the region pool's cost (log)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("CamVid 120x160, EfficientNet-Lite0 (ImageNet), mean and min-max over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def current_hashes(data_root: str | None = None) -> dict[str, str]:
    """arm -> config hash of the presets as they are now (seed 0; the hash ignores the seed)."""
    return {arm.name: config_hash(arm_config(arm, 0, data_root)) for arm in ARMS}


def write_report(csv_path: Path, out_dir: Path, data_root: str | None = None) -> dict:
    result = report(read_rows(csv_path), current_hashes(data_root))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "label-efficiency.md").write_text(result["markdown"] + "\n")
    plot_curves(result, out_dir / "al-curve.png")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the arms missing from the CSV, then report")
    run.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    run.add_argument("--arms", nargs="+", choices=list(BY_NAME), default=None)
    run.add_argument("--quick", action="store_true", help=f"arms {QUICK}, seed 0")
    run.add_argument("--runs-dir", default=str(REPO / "runs" / EXPERIMENT))
    for p in (run, sub.add_parser("report", help="tables and plot from the CSV")):
        p.add_argument("--csv", default=str(CSV_PATH))
        p.add_argument("--out-dir", default=str(RESULTS))
        p.add_argument("--data-root", default=os.environ.get("ALSEG_CAMVID"))
    args = parser.parse_args(argv)
    if args.command == "run":
        names = QUICK if args.quick else (args.arms or list(BY_NAME))
        seeds = [0] if args.quick else args.seeds
        run_arms([BY_NAME[n] for n in names], seeds, Path(args.runs_dir).resolve(),
                 Path(args.csv), args.data_root)  # fmt: skip
    result = write_report(Path(args.csv), Path(args.out_dir), args.data_root)
    print(result["markdown"])
    print(f"\n{Path(args.out_dir) / 'label-efficiency.md'}, {Path(args.out_dir) / 'al-curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
