"""What a finished tiny run shows: the HTML report (table, curve, overlays; rendered in headless
Chromium), MLflow's metric history over clicks, tags and artifacts, and ``alseg compare``
(CSV numbers equal the MLflow metrics). Reuses the session's tiny run (tests/pipeline/conftest.py).
"""

import base64
import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from alseg.cli import main
from alseg.compare import curve_figure, load

pytestmark = pytest.mark.slow


def _client(runs: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")


def _runs_of(client: MlflowClient, name: str) -> tuple:
    """(parent run, children by round) of the run named ``name``."""
    experiment = client.get_experiment_by_name("alseg").experiment_id
    found = client.search_runs([experiment], f"tags.`alseg.run_name` = '{name}'")
    parent = next(r for r in found if r.data.tags["alseg.round"] == "parent")
    children = sorted((r for r in found if r.data.tags["alseg.round"] != "parent"),
                      key=lambda r: int(r.data.tags["alseg.round"]))  # fmt: skip
    return parent, children


def _images(page: str) -> dict[str, np.ndarray]:
    """alt text -> decoded image of every embedded PNG."""
    found = re.findall(r'<img[^>]*alt="([^"]*)"[^>]*src="data:image/png;base64,([^"]+)"', page)
    return {alt: cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            for alt, data in found}  # fmt: skip


def test_report_page_holds_table_figures_and_overlays(tiny_run) -> None:
    runs, report = tiny_run
    html = Path(report["html"])
    assert html == runs / "reports" / "tiny" / "report.html"
    assert {p.name for p in html.parent.iterdir()} >= {"report.html", "curve.png", "config.yaml"}
    page = html.read_text()
    rows = re.findall(r'<tr><td class="text">(\d+)</td><td>(\d+)</td>.*?</tr>', page)
    assert rows == [(str(r["round"]), str(r["clicks"])) for r in report["rounds"]]
    for r in report["rounds"]:
        assert f"<td>{100 * r['miou']:.2f}</td>" in page
    images = _images(page)
    assert set(images) == {"AL curve", "per-class IoU heat map", "labelled class distribution",
                           "click use", "overlay round 0", "overlay round 1"}  # fmt: skip
    assert all(image is not None and min(image.shape[:2]) > 50 for image in images.values())
    assert 'src="http' not in page and "<link" not in page  # self-contained
    assert report["clicks_per_round"] == [40, 20]  # tiny: 40 clicks in round 0, then 20


def test_mlflow_history_of_miou_has_clicks_as_step(tiny_run) -> None:
    runs, report = tiny_run
    client = _client(runs)
    parent, children = _runs_of(client, "tiny")
    history = client.get_metric_history(parent.info.run_id, "miou")
    assert [(m.step, m.value) for m in history] == [(r["clicks"], r["miou"])
                                                     for r in report["rounds"]]  # fmt: skip
    start, end = parent.info.start_time, parent.info.end_time
    assert all(start <= m.timestamp <= end for m in history)  # real times, not 0
    assert [m.timestamp for m in history] == sorted(m.timestamp for m in history)
    for child, r in zip(children, report["rounds"], strict=True):
        (point,) = client.get_metric_history(child.info.run_id, "miou")
        assert (point.step, point.value) == (r["clicks"], r["miou"])
    tags = parent.data.tags
    expected = {"dataset": "synthetic", "label": "dominant", "acquisition": "entropy",
                "trainer": "supervised", "backbone": "mobilenet_v2", "seed": "0"}  # fmt: skip
    assert {k: tags[f"alseg.{k}"] for k in expected} == expected
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "curve.png", "config.yaml", "report.md", "pipeline"} <= artifacts
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "pipeline")] == [
        "pipeline/tiny.yaml"]  # fmt: skip


def test_compare_csv_and_curve_equal_mlflow_metrics(tiny_run, tmp_path, capsys) -> None:
    runs, report = tiny_run
    out = tmp_path / "compare"
    code = main(["compare", "tiny", "--experiment", "alseg", "--runs-dir", str(runs),
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    assert re.search(r"^tiny\s+alseg\s+entropy/grid/dominant/supervised", capsys.readouterr().out,
                     re.M)  # fmt: skip
    parent, children = _runs_of(_client(runs), "tiny")
    with open(out / "compare-curves.csv") as f:
        curve = list(csv.DictReader(f))
    assert [(int(p["round"]), int(p["clicks"])) for p in curve] == [
        (0, 40), (1, 60)]  # fmt: skip
    for point, child in zip(curve, children, strict=True):
        assert float(point["miou_pct"]) == pytest.approx(100 * child.data.metrics["miou"])
        assert float(point["clicks_pct_of_pool"]) == child.data.metrics["clicks_pct_of_pool"]
    with open(out / "compare.csv") as f:
        (row,) = list(csv.DictReader(f))
    last = children[-1].data.metrics
    assert float(row["final_miou_pct"]) == pytest.approx(100 * last["miou"])
    assert float(row["auALC"]) == pytest.approx(parent.data.metrics["auALC"])
    assert float(row["gini"]) == pytest.approx(parent.data.metrics["gini"])
    assert float(row["pct_of_full"]) == pytest.approx(last["pct_of_full"])
    assert (row["rounds"], row["clicks"], row["seed"]) == ("2", "60", "0")
    assert float(row["wall_seconds"]) > 0
    assert cv2.imread(str(out / "compare.png")) is not None
    summaries = load(_client(runs), "alseg", ["tiny"])
    (line,) = curve_figure(summaries).axes[0].lines  # one method, one point per round
    expected = [(r["clicks"], 100 * r["miou"]) for r in report["rounds"]]
    assert np.allclose(line.get_xydata(), expected)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI=true (make browser installs it)")
        pytest.skip("chromium not installed (make browser, or apt-get install chromium)")
    return path


def _render(page: Path, profile: Path) -> tuple[str, list[str]]:
    """(DOM after load, console messages) of ``page`` in headless Chromium."""
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_in_headless_chromium_without_console_errors(tiny_run, tmp_path) -> None:
    runs, report = tiny_run
    dom, console = _render(Path(report["html"]), tmp_path / "profile")
    assert console == []
    assert 'id="curve-table"' in dom and dom.count("<img") == 6
    # the check sees a broken image: the page reports it on the console
    broken = tmp_path / "broken.html"
    broken.write_text(Path(report["html"]).read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    _, console = _render(broken, tmp_path / "profile")
    assert len(console) == 1 and "image failed to load: AL curve" in console[0]


def test_compare_names_a_missing_store_or_run_in_one_line(tiny_run, tmp_path, capsys) -> None:
    runs, _ = tiny_run
    assert main(["compare", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"alseg: error: {tmp_path.resolve() / 'mlflow.db'}: no MLflow database (run an " \
        "experiment first, or set MLFLOW_TRACKING_URI)"  # fmt: skip
    assert main(["compare", "no-such-run", "--runs-dir", str(runs), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("alseg: error: run 'no-such-run': no such parent run in") and "\n" not in err
    )
    assert not (tmp_path / "compare.csv").exists()
