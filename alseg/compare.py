"""``alseg compare``: experiment runs read back from MLflow, side by side.

Reads parent runs (tag ``alseg.round = parent``) and their round children; writes
``compare.csv`` (one row per run: method, dataset, label type, acquisition, trainer, seed, rounds,
clicks, final mIoU, % of full supervision, AuALC, Gini, wall time), ``compare-curves.csv`` (one row
per run and round: clicks, % of pool cost, mIoU) and ``compare.png`` (mIoU against clicks or %
of pool cost, one line per method: the mean over its seeds and the [min, max] band).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from alseg.reporting import figures
from alseg.reporting.curves import Curve, bands
from alseg.storage import atomic_path
from alseg.tracking import PARENT_TAG, ROUND_TAG, RUN_TAG

COLUMNS = (
    "run",
    "experiment",
    "method",
    "dataset",
    "label",
    "acquisition",
    "trainer",
    "seed",
    "rounds",
    "clicks",
    "final_miou_pct",
    "pct_of_full",
    "auALC",
    "gini",
    "wall_seconds",
)
CURVE_COLUMNS = ("run", "method", "seed", "round", "clicks", "clicks_pct_of_pool", "miou_pct")
X_AXES = {"clicks": ("clicks", "clicks"), "pool": ("clicks_pct_of_pool", "% of pool cost")}


class CompareError(ValueError):
    """No MLflow store, an unknown experiment or run, or nothing to compare."""


@dataclass
class RunSummary:
    """One experiment run: the table row (``COLUMNS``) and its curve (one dict per round)."""

    row: dict[str, Any]
    curve: list[dict[str, Any]] = field(default_factory=list)


def tracking_uri(runs_dir: str | Path) -> str:
    """``MLFLOW_TRACKING_URI``, else the SQLite store ``alseg run`` writes in ``runs_dir``."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    db = Path(runs_dir).resolve() / "mlflow.db"
    if not db.is_file():
        raise CompareError(f"{db}: no MLflow database (run an experiment first, or set "
                           "MLFLOW_TRACKING_URI)")  # fmt: skip
    return f"sqlite:///{db}"


def _search(client: Any, experiment_ids: list[str], filter_string: str) -> list:
    """Every run matching ``filter_string`` (all pages), oldest first."""
    found, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def experiment_ids(client: Any, experiment: str | None) -> dict[str, str]:
    """{experiment id: name}: the named experiment, or every active one."""
    if experiment is None:
        return {e.experiment_id: e.name for e in client.search_experiments()}
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise CompareError(f"--experiment {experiment}: no such MLflow experiment")
    return {found.experiment_id: found.name}


def parent_runs(client: Any, experiments: dict[str, str], runs: list[str],
                filter_expr: str | None) -> list:  # fmt: skip
    """Parent runs, optionally only those named (run name or run id) and matching the MLflow
    filter expression ``filter_expr`` (e.g. ``tags.`alseg.acquisition` = 'entropy'``)."""
    query = f"tags.`{ROUND_TAG}` = 'parent'" + (f" and {filter_expr}" if filter_expr else "")
    try:
        found = _search(client, list(experiments), query)
    except Exception as err:  # MLflow's own message names the bad token
        raise CompareError(f"--filter {filter_expr}: {str(err).splitlines()[0]}") from None
    if not runs:
        return found
    keyed = {key: run for run in found for key in (run.info.run_id, run.data.tags.get(RUN_TAG))}
    missing = [name for name in runs if name not in keyed]
    if missing:
        raise CompareError(f"run {missing[0]!r}: no such parent run in "
                           f"{sorted(experiments.values())}")  # fmt: skip
    return [keyed[name] for name in runs]


def summarise(parent: Any, children: list, experiment: str) -> RunSummary:
    """The table row and curve of one parent run and its round children (ordered by round)."""
    tags = parent.data.tags
    curve = [{"run": tags.get(RUN_TAG, parent.info.run_name), "method": tags.get("alseg.method"),
              "seed": tags.get("alseg.seed"), "round": int(c.data.tags[ROUND_TAG]),
              "clicks": int(c.data.metrics["clicks"]),
              "clicks_pct_of_pool": c.data.metrics["clicks_pct_of_pool"],
              "miou_pct": 100 * c.data.metrics["miou"]} for c in children]  # fmt: skip
    last = children[-1].data.metrics
    end, start = parent.info.end_time, parent.info.start_time
    row = {
        "run": curve[0]["run"], "experiment": experiment, "method": tags.get("alseg.method"),
        "dataset": tags.get("alseg.dataset"), "label": tags.get("alseg.label"),
        "acquisition": tags.get("alseg.acquisition"), "trainer": tags.get("alseg.trainer"),
        "seed": tags.get("alseg.seed"), "rounds": len(children), "clicks": int(last["clicks"]),
        "final_miou_pct": 100 * last["miou"], "pct_of_full": last.get("pct_of_full"),
        "auALC": last.get("auALC"), "gini": last.get("gini"),
        "wall_seconds": round((end - start) / 1000, 1) if end and start else None,
    }  # fmt: skip
    return RunSummary(row, curve)


def load(client: Any, experiment: str | None = None, runs: list[str] | None = None,
         filter_expr: str | None = None) -> list[RunSummary]:  # fmt: skip
    """Every matching parent run with at least one finished round, in start order."""
    experiments = experiment_ids(client, experiment)
    summaries = []
    for parent in parent_runs(client, experiments, runs or [], filter_expr):
        query = f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
        children = [c for c in _search(client, [parent.info.experiment_id], query)
                    if "miou" in c.data.metrics]  # fmt: skip
        if children:
            children.sort(key=lambda c: int(c.data.tags[ROUND_TAG]))
            summaries.append(summarise(parent, children, experiments[parent.info.experiment_id]))
    if not summaries:
        raise CompareError("no experiment run with a finished round matches")
    return summaries


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def table_text(summaries: list[RunSummary]) -> str:
    """The runs as an aligned text table (floats to 2 decimals; mIoU and % of full in %)."""
    rows = [list(COLUMNS)] + [[_cell(s.row[c]) for c in COLUMNS] for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(line.rstrip() for line in lines)


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """``rows`` as CSV (numbers at full precision, None as empty)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: ("" if r[c] is None else r[c]) for c in columns} for r in rows)


def curve_figure(summaries: list[RunSummary], x: str = "clicks") -> Figure:
    """mIoU against ``x`` (``clicks`` or ``pool``): one line per method, mean and band."""
    key, label = X_AXES[x]
    curves = [
        Curve(s.row["method"] or s.row["run"], np.array([p[key] for p in s.curve], float),
              np.array([p["miou_pct"] for p in s.curve]))
        for s in summaries
    ]  # fmt: skip
    return figures.curve_figure(bands(curves), label)


def compare(summaries: list[RunSummary], out_dir: str | Path, x: str = "clicks") -> dict:
    """Write compare.csv, compare-curves.csv and compare.png into ``out_dir`` (replaced whole)."""
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_csv(tmp / "compare.csv", COLUMNS, [s.row for s in summaries])
        write_csv(
            tmp / "compare-curves.csv", CURVE_COLUMNS, [p for s in summaries for p in s.curve]
        )
        (tmp / "compare.png").write_bytes(figures.png(curve_figure(summaries, x)))
    return {name: out_dir / name for name in ("compare.csv", "compare-curves.csv", "compare.png")}
