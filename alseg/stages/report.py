"""report stage: every round's metrics -> the experiment's report (JSON, Markdown, HTML, PNG).

Columns: round, clicks, % of pool cost, % of pixels labelled, mIoU; plus AuALC (area under mIoU
against clicks normalised to [0, 1], alseg.metrics.al_curve_area) and the Gini index of the
labelled class distribution (alseg.metrics.gini).

Output folder: ``report.json``, ``report.md`` (the curve table), ``report.html`` (self-contained:
config, AL curve, per-class IoU heat map, labelled class distribution and click use per round,
overlays of the regions queried per round with the labels given), ``curve.png`` and
``config.yaml`` (the resolved config). The sweep report puts experiments side by side
(``sweep.json``, ``sweep.md``, ``sweep.html``, ``curve.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from alseg import storage
from alseg.data.prepared import PreparedDataset
from alseg.labels import labelled_class_counts_of, render_targets
from alseg.metrics import al_curve_area, gini
from alseg.reporting import figures
from alseg.reporting.curves import Curve, bands, method_name
from alseg.reporting.html import data_uri, render
from alseg.reporting.overlays import busiest_images, overlay, palette, region_centres
from alseg.stages.common import read_json, write_json
from alseg.stages.regions import is_pixel_pool
from alseg.storage import atomic_path
from alseg.tables import read_table

OVERLAY_IMAGES = 3  # images per round in the overlays


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
            f"{m['labelled_pixels_pct']:.2f} | {100 * m['miou']:.2f} |{pct} {m['gini']:.3f} |"
        )
    return "\n".join(lines)


def round_label_stats(labels: pa.Table, n_rounds: int, num_classes: int) -> dict:
    """Per round r < n_rounds: labelled class counts after r (cumulative, (R, C)), clicks spent
    in r and regions labelled in r."""
    round_of = labels["round"].to_numpy()
    counts = [labelled_class_counts_of(labels.filter(pa.array(round_of <= r)), num_classes)
              for r in range(n_rounds)]  # fmt: skip
    spent = np.bincount(round_of, weights=labels["cost"].to_numpy(), minlength=n_rounds)
    regions = np.bincount(round_of, minlength=n_rounds)
    return {"class_counts_per_round": np.stack(counts).tolist(),
            "clicks_per_round": spent[:n_rounds].astype(int).tolist(),
            "regions_per_round": regions[:n_rounds].tolist()}  # fmt: skip


def html_table(report: dict) -> dict:
    """{"head": [...], "rows": [[...], ...]}: one row per round of ``report``."""
    rounds = report["rounds"]
    full = all("pct_of_full" in m for m in rounds)
    head = [
        "round",
        "clicks",
        "clicks this round",
        "regions this round",
        "% pool cost",
        "% pixels labelled",
        "mIoU",
        *(["% of full"] if full else []),
        "Gini",
        "AuALC so far",
    ]
    rows = []
    for m, spent, regions in zip(rounds, report["clicks_per_round"], report["regions_per_round"],
                                 strict=True):  # fmt: skip
        rows.append([m["round"], m["clicks"], spent, regions, f"{m['clicks_pct_of_pool']:.2f}",
                     f"{m['labelled_pixels_pct']:.2f}", f"{100 * m['miou']:.2f}",
                     *([f"{m['pct_of_full']:.1f}"] if full else []), f"{m['gini']:.3f}",
                     f"{m.get('auALC', float('nan')):.2f}"])  # fmt: skip
    return {"head": head, "rows": rows}


def experiment_figures(report: dict, curve: bool = True) -> dict[str, bytes]:
    """PNG bytes of the figures drawn from a report's numbers alone: heat map, class
    distribution, click use and (``curve``) the AL curve."""
    rounds = report["rounds"]
    classes = rounds[0]["classes"]
    iou = 100 * np.array([[np.nan if v is None else v for v in m["iou"]] for m in rounds], float)
    pngs = {
        "heatmap": figures.png(figures.iou_heatmap(classes, iou)),
        "distribution": figures.png(figures.class_distribution_figure(
            classes, np.array(report["class_counts_per_round"]), palette(len(classes)),
            [m["gini"] for m in rounds])),
        "clicks": figures.png(figures.clicks_figure(
            np.array(report["clicks_per_round"]), np.array([m["clicks_pct_of_pool"]
                                                            for m in rounds]))),
    }  # fmt: skip
    if curve:
        pngs["curve"] = figures.png(figures.curve_figure(bands([run_curve(report)])))
    return pngs


def run_curve(report: dict) -> Curve:
    """A report's AL curve: clicks and mIoU (%) per round."""
    return Curve(report["method"], np.array([m["clicks"] for m in report["rounds"]], float),
                 np.array([100 * m["miou"] for m in report["rounds"]]))  # fmt: skip


def overlay_panel(labels: pa.Table, image_index: int, data: PreparedDataset, maps: storage.NpyRows,
                  point_radius: int) -> dict:  # fmt: skip
    """One overlay panel: image ``image_index`` with the regions of ``labels`` (one round)."""
    rows = labels.filter(pc.equal(labels["image_index"], image_index))
    label_type = rows["label_type"][0].as_py()
    gt = data.rows("train_labels.npy")
    painted = render_targets(label_type, rows, gt, maps)[0][0]
    region_ids = rows["region_id"].to_numpy()
    names = data.classes + ["undefined"]
    class_lists = rows["classes"].to_pylist()
    # multi-class labels: regions listing several classes are not painted; their list is shown
    several = [k for k, listed in enumerate(class_lists)
               if label_type == "multiclass" and len(listed) > 1]  # fmt: skip
    centres = region_centres(np.asarray(maps[image_index]), region_ids[several])
    texts = [(y, x, "+".join(names[c][:5] for c in class_lists[k]))
             for (y, x), k in zip(centres, several, strict=True)]  # fmt: skip
    colours = palette(data.num_classes)
    shown = overlay(data.rows("train_images.npy")[image_index], np.asarray(maps[image_index]),
                    region_ids, painted, colours, point_radius=point_radius)  # fmt: skip
    used = {int(c) for c in np.unique(painted) if c < data.num_classes}
    used |= {c for k in several for c in class_lists[k] if c < data.num_classes}
    title = f"image {image_index}: {len(rows)} regions, {int(np.sum(rows['cost']))} clicks"
    return {"title": title, "image": shown, "texts": texts, "classes": used}


def overlay_figures(labels: pa.Table, n_rounds: int, prepared_dir: str | Path,
                    regions_dir: str | Path) -> list[dict]:  # fmt: skip
    """Per round: {"round", "png", "caption"} of the busiest images' overlays."""
    data = PreparedDataset.open(prepared_dir)
    maps = storage.NpyRows(storage.join(str(regions_dir), "train_regions.npy"))
    radius = max(1, min(data.image_size) // 64) if is_pixel_pool(regions_dir) else 0
    out = []
    for r in range(n_rounds):
        in_round = labels.filter(pc.equal(labels["round"], r))
        panels = [overlay_panel(in_round, i, data, maps, radius)
                  for i in busiest_images(labels, r, OVERLAY_IMAGES)]  # fmt: skip
        if not panels:
            continue
        fig = figures.overlay_figure(panels, data.classes, palette(data.num_classes))
        caption = (
            f"{len(in_round)} regions labelled ({in_round['label_type'][0]} labels); "
            "outlined: queried this round, coloured: the label given; other pixels dimmed"
        )
        out.append({"round": r, "png": figures.png(fig), "caption": caption})
    return out


def run(params: dict, evaluation_dir: str | Path, labels_dir: str | Path, out_dir: str | Path,
        prepared_dir: str | Path | None = None, regions_dir: str | Path | None = None,
        run_name: str = "") -> dict:  # fmt: skip
    """AL curve, AuALC and Gini from the last evaluate folder (which holds every round), and the
    HTML report of the run ``run_name`` (default: the config's name; overlays need
    ``prepared_dir`` and ``regions_dir``)."""
    rounds = [read_json(p) for p in sorted(Path(evaluation_dir).glob("round_*.json"))]
    if not rounds:
        raise ValueError(f"{evaluation_dir}: no round_*.json metrics found")
    clicks = np.array([m["clicks"] for m in rounds], float)
    miou = np.array([100 * m["miou"] for m in rounds])
    labels = read_table(Path(labels_dir) / "labels.parquet", "labels")
    num_classes = len(rounds[0]["classes"])
    counts = labelled_class_counts_of(labels, num_classes)
    report = {
        "name": params["name"],
        "run_name": run_name or params["name"],
        "method": method_name(params),
        "seed": params["seed"],
        "config": params,
        "rounds": rounds,
        "auALC": al_curve_area(clicks, miou),
        "gini": gini(counts),
        "labelled_class_counts": counts.tolist(),
        "final_miou": float(miou[-1]),
        **round_label_stats(labels, len(rounds), num_classes),
    }
    text = (
        f"# {report['run_name']}\n\n{curve_table(rounds)}\n\nAuALC (mIoU vs clicks, x normalised "
        f"to [0, 1]): {report['auALC']:.2f}  \n"
        f"Gini of labelled class counts: {report['gini']:.3f}\n"
    )
    pngs = experiment_figures(report)
    overlays = (overlay_figures(labels, len(rounds), prepared_dir, regions_dir)
                if prepared_dir and regions_dir else [])  # fmt: skip
    config_yaml = yaml.safe_dump(params, sort_keys=False)
    page = render(
        "report.html.j2", name=report["run_name"], method=report["method"],
        final_miou=report["final_miou"], auALC=report["auALC"], gini=report["gini"],
        table=html_table(report), figures={k: data_uri(v) for k, v in pngs.items()},
        overlays=[{**o, "uri": data_uri(o["png"])} for o in overlays], config_yaml=config_yaml,
    )  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_json(tmp / "report.json", report)
        (tmp / "report.md").write_text(text)
        (tmp / "report.html").write_text(page)
        (tmp / "curve.png").write_bytes(pngs["curve"])
        (tmp / "config.yaml").write_text(config_yaml)
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


def sweep_html_table(reports: list[dict]) -> dict:
    """The sweep table's rows for the HTML page (method and final mIoU added)."""
    head = ["experiment", "method", "seed", "clicks", "mIoU per round", "final mIoU", "AuALC",
            "Gini"]  # fmt: skip
    rows = [[r["name"], r["method"], r["seed"], "/".join(str(m["clicks"]) for m in r["rounds"]),
             " / ".join(f"{100 * m['miou']:.2f}" for m in r["rounds"]), f"{r['final_miou']:.2f}",
             f"{r['auALC']:.2f}", f"{r['gini']:.3f}"]
            for r in sorted(reports, key=lambda r: r["name"])]  # fmt: skip
    return {"head": head, "rows": rows}


def run_sweep_report(name: str, reports: list[str], out_dir: str | Path) -> dict:
    """Combine the experiments' reports (JSON strings) into one sweep report: the table, the AL
    curves (one line per method, mean and band over seeds) and each experiment's figures side
    by side."""
    parsed = sorted((json.loads(r) for r in reports), key=lambda r: r["name"])
    summary = {"name": name, "experiments": parsed}
    curve = figures.png(figures.curve_figure(bands([run_curve(r) for r in parsed])))
    side = []
    for r in parsed:
        pngs = experiment_figures(r, curve=False)
        side.append(
            {
                "name": r["name"],
                "method": r["method"],
                "final_miou": r["final_miou"],
                "auALC": r["auALC"],
                "gini": r["gini"],
                **{k: data_uri(pngs[k]) for k in ("heatmap", "distribution", "clicks")},
            }
        )
    page = render("sweep.html.j2", name=name, curve=data_uri(curve),
                  table=sweep_html_table(parsed), experiments=side)  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_json(tmp / "sweep.json", summary)
        (tmp / "sweep.md").write_text(f"# sweep {name}\n\n{sweep_table(parsed)}\n")
        (tmp / "sweep.html").write_text(page)
        (tmp / "curve.png").write_bytes(curve)
    return summary
