"""report stage on hand-made rounds and labels: per-round label statistics, the HTML page, the
sweep page (no pipeline run; the end-to-end report is checked in tests/pipeline)."""

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from alseg.config import load_config, stage_params
from alseg.data.prepared import PreparedDataset
from alseg.reporting.overlays import busiest_images
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
            "clicks": clicks, "clicks_pct_of_pool": 10.0 * clicks, "labelled_pixels_pct": 5.0,
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


@pytest.mark.parametrize(
    ("region_type", "label_type"), [("grid", "multiclass"), ("grid", "full"), ("pixel", "dominant")]
)
def test_overlays_show_each_label_type(tmp_path: Path, region_type: str, label_type: str) -> None:
    from alseg.config import DataConfig, LabelConfig, RegionConfig
    from alseg.stages import labeling, prepare, regions
    from alseg.tables import read_table
    from tests.conftest import write_folder_dataset

    root = write_folder_dataset(tmp_path / "data", n_train=4, n_val=1, size=(32, 48))
    prepare.run(DataConfig(dataset="camvid", root=str(root), image_size=(32, 48), workers=1),
                tmp_path / "prepared")  # fmt: skip
    regions.run(
        RegionConfig(type=region_type, size=12), tmp_path / "prepared", tmp_path / "regions"
    )
    clicks = 400 if label_type == "full" else 40  # full labels cost a click per pixel
    budget = {"initial_clicks": clicks, "clicks_per_round": 10, "overshoot": False}
    params = {"seed": 0, "label": LabelConfig(type=label_type).model_dump(), "budget": budget}
    labeling.run_init(params, tmp_path / "prepared", tmp_path / "regions", tmp_path / "init")
    labeling.run_oracle(params, 0, tmp_path / "init", tmp_path / "prepared", tmp_path / "regions",
                        tmp_path / "init", tmp_path / "labels")  # fmt: skip
    labels = read_table(tmp_path / "labels" / "labels.parquet", "labels")
    (item,) = report.overlay_figures(labels, 1, tmp_path / "prepared", tmp_path / "regions")
    assert item["round"] == 0 and item["png"][:4] == b"\x89PNG"
    data = PreparedDataset.open(tmp_path / "prepared")
    maps = np.load(tmp_path / "regions" / "train_regions.npy")
    image = busiest_images(labels, 0, 1)[0]
    panel = report.overlay_panel(labels, image, data, maps, 1 if region_type == "pixel" else 0)
    rows = labels.filter(pc.equal(labels["image_index"], image))
    listed = [c for c in rows["classes"].to_pylist() if len(c) > 1]
    assert len(panel["texts"]) == (len(listed) if label_type == "multiclass" else 0)
    assert listed or label_type != "multiclass"  # 12 px cells straddle the 8 px class blocks
    given = {c for cs in rows["classes"].to_pylist() for c in cs}
    assert panel["classes"] and panel["classes"] <= given  # colours of the labels given only
    assert panel["image"].shape == (32, 48, 3)
