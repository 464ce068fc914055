"""report stage: every round's metrics -> the experiment's AL curve table (Markdown + JSON).

Columns: round, clicks, % of pool cost, % of pixels labelled, mIoU; plus AuALC (area under mIoU
against clicks normalised to [0, 1], alseg.metrics.al_curve_area) and the Gini index of the
labelled class distribution (alseg.metrics.gini).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from alseg.metrics import al_curve_area, gini
from alseg.stages.common import read_json, write_json
from alseg.stages.labeling import labelled_class_counts_of
from alseg.storage import atomic_path
from alseg.tables import read_table


def curve_table(rounds: list[dict]) -> str:
    """Markdown table of the AL curve (mIoU, % of full supervision when known, Gini)."""
    full = all("pct_of_full" in m for m in rounds)
    head = "| round | clicks | % pool cost | % pixels labelled | mIoU |" + (
        " % of full |" if full else "") + " Gini |"  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for m in rounds:
        pct = f" {m['pct_of_full']:.1f} |" if full else ""
        lines.append(
            f"| {m['round']} | {m['clicks']} | {m['clicks_pct_of_pool']:.2f} | "
            f"{m['labeled_pixels_pct']:.2f} | {100 * m['miou']:.2f} |{pct} {m['gini']:.3f} |"
        )
    return "\n".join(lines)


def run(params: dict, history_dir: str | Path, labels_dir: str | Path, out_dir: str | Path) -> dict:
    """AL curve, AuALC and Gini from the last evaluate folder (which holds every round)."""
    rounds = [read_json(p) for p in sorted(Path(history_dir).glob("round_*.json"))]
    if not rounds:
        raise ValueError(f"{history_dir}: no round_*.json metrics found")
    clicks = np.array([m["clicks"] for m in rounds], float)
    miou = np.array([100 * m["miou"] for m in rounds])
    labels = read_table(Path(labels_dir) / "labels.parquet", "labels")
    counts = labelled_class_counts_of(labels, len(rounds[0]["classes"]))
    report = {
        "name": params["name"],
        "rounds": rounds,
        "auALC": al_curve_area(clicks, miou),
        "gini": gini(counts),
        "labeled_class_counts": counts.tolist(),
        "final_miou": float(miou[-1]),
    }
    text = (
        f"# {params['name']}\n\n{curve_table(rounds)}\n\nAuALC (mIoU vs clicks, x normalised "
        f"to [0, 1]): {report['auALC']:.2f}  \n"
        f"Gini of labelled class counts: {report['gini']:.3f}\n"
    )
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_json(tmp / "report.json", report)
        (tmp / "report.md").write_text(text)
    return report


def sweep_table(reports: list[dict]) -> str:
    """One row per experiment: mIoU per round (at its clicks), final mIoU, AuALC, Gini."""
    rounds = max(len(r["rounds"]) for r in reports)
    head = ["experiment", *[f"r{i} mIoU" for i in range(rounds)], "clicks", "AuALC", "Gini"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(reports, key=lambda r: r["name"]):
        curve = [f"{100 * m['miou']:.2f}" for m in r["rounds"]]
        clicks = "/".join(str(m["clicks"]) for m in r["rounds"])
        lines.append(f"| {r['name']} | {' | '.join(curve)} | {clicks} | {r['auALC']:.2f} | "
                     f"{r['gini']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def run_sweep_report(name: str, reports: list[str], out_dir: str | Path) -> dict:
    """Combine the experiments' reports (JSON strings) into one sweep report."""
    parsed = [json.loads(r) for r in reports]
    summary = {"name": name, "experiments": parsed}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_json(tmp / "sweep.json", summary)
        (tmp / "sweep.md").write_text(f"# sweep {name}\n\n{sweep_table(parsed)}\n")
    return summary
