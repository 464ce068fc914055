"""report stage on hand-made rounds and labels: per-round label statistics, the HTML page, the
sweep page (no pipeline run; the end-to-end report is checked in tests/pipeline)."""

import json
import re
from pathlib import Path

import pyarrow as pa

from alseg.config import load_config, stage_params
from alseg.stages import report
from alseg.stages.common import write_json
from alseg.tables import write_table

REPO = Path(__file__).parents[2]
CLASSES = ["road", "car", "sky"]


def _labels() -> pa.Table:
    """Round 0: two regions (dominant road, sky), round 1: one (sky); one click each."""
    return pa.table({
        "round": [0, 0, 1], "image_index": [0, 1, 1], "region_id": [3, 4, 5],
        "label_type": ["dominant"] * 3, "dominant": [0, 2, 2],
        "classes": [[0], [2, 1], [2]], "cost": [1, 1, 1],
    })  # fmt: skip


def _round(r: int, clicks: int, miou: float) -> dict:
    return {"round": r, "classes": CLASSES, "iou": [miou, float("nan"), miou], "miou": miou,
            "clicks": clicks, "clicks_pct_of_pool": 10.0 * clicks, "labeled_pixels_pct": 5.0,
            "gini": 0.5, "auALC": 40.0}  # fmt: skip


def _inputs(tmp_path: Path) -> tuple[dict, Path, Path]:
    history, labels = tmp_path / "evaluation", tmp_path / "labels"
    history.mkdir()
    labels.mkdir()
    write_json(history / "round_00.json", _round(0, 2, 0.25))
    write_json(history / "round_01.json", _round(1, 3, 0.5))
    write_table(_labels(), labels / "labels.parquet", "labels")
    params = json.loads(stage_params(load_config(REPO / "configs" / "tiny.yaml"), "report"))
    return params, history, labels


def test_round_label_stats_by_hand() -> None:
    stats = report.round_label_stats(_labels(), 2, 3)
    assert stats["class_counts_per_round"] == [[1, 0, 1], [1, 0, 2]]  # cumulative dominant
    assert stats["clicks_per_round"] == [2, 1] and stats["regions_per_round"] == [2, 1]


def test_report_writes_table_page_curve_and_config(tmp_path: Path) -> None:
    params, history, labels = _inputs(tmp_path)
    result = report.run(params, history, labels, tmp_path / "out", run_name="tiny-2")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "curve.png", "report.html", "report.json", "report.md"]  # fmt: skip
    assert result["method"] == "entropy/grid/dominant/supervised" and result["final_miou"] == 50
    page = (out / "report.html").read_text()
    assert "<h1>alseg report: tiny-2</h1>" in page and result["name"] == "tiny"  # run, config
    rows = re.findall(r"<tr><td class=\"text\">(\d)</td><td>(\d+)</td><td>(\d+)</td>", page)
    assert rows == [("0", "2", "2"), ("1", "3", "1")]  # round, clicks, clicks this round
    assert "<td>25.00</td>" in page and "<td>50.00</td>" in page  # mIoU per round (%)
    assert "No overlays" in page  # no prepared dataset / region maps given
    assert "policy: entropy" in page and "http" not in page.replace("http://www.w3", "")
    assert (out / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_page_puts_experiments_side_by_side(tmp_path: Path) -> None:
    params, history, labels = _inputs(tmp_path)
    runs = []
    for seed in (0, 1):
        params = {**params, "name": f"tiny-{seed}", "seed": seed}
        runs.append(json.dumps(report.run(params, history, labels, tmp_path / f"r{seed}")))
    summary = report.run_sweep_report("two-seeds", runs, tmp_path / "sweep")
    assert [r["name"] for r in summary["experiments"]] == ["tiny-0", "tiny-1"]
    page = (tmp_path / "sweep" / "sweep.html").read_text()
    assert page.count('<div class="experiment">') == 2
    assert 'alt="per-class IoU heat map tiny-1"' in page
    assert "2/3" in page  # clicks per round in the sweep table
