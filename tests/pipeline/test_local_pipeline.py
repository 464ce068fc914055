"""The AL pipeline end to end under kfp.local on the tiny preset (real compiler, real runner,
real MLflow on SQLite)."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from alseg.config import load_config
from alseg.runner import PipelineFailed, compile_pipeline, run_local
from tests.pipeline.conftest import run_queries

REPO = Path(__file__).parents[2]
TINY = REPO / "configs" / "tiny.yaml"
pytestmark = pytest.mark.slow


def test_compiled_spec_unrolls_rounds(tmp_path: Path) -> None:
    cfg = load_config(TINY, {"budget.rounds": 3})
    spec = next(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    names = sorted(t["taskInfo"]["name"] for t in spec["root"]["dag"]["tasks"].values())
    assert names == sorted(
        ["configure", "prepare", "regions", "shard_plan", "init", "round 0: oracle", "report"]
        + [f"round {r}: {s}" for r in range(3) for s in ("train", "evaluate")]
        + [f"round {r}: {s}" for r in range(2) for s in ("merge", "select")]
        + ["for-loop-1", "for-loop-2"]  # each round's ParallelFor of score shards
        + ["round 1: oracle", "round 2: oracle"]
    )
    executors = spec["deploymentSpec"]["executors"]
    assert all("pip install" not in " ".join(e["container"]["command"]) for e in executors.values())


_queries = run_queries


@pytest.fixture
def first_run(tiny_run) -> tuple[Path, dict]:
    return tiny_run  # one uninterrupted tiny run per session (tests/pipeline/conftest.py)


def test_end_to_end_report_and_mlflow(first_run) -> None:
    runs, report = first_run
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[1]["clicks"] > rounds[0]["clicks"] >= 40 - 1
    assert all(0.0 <= r["miou"] <= 1.0 for r in rounds)
    assert 0.0 <= report["gini"] <= 1.0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{runs / 'mlflow.db'}")
    found = mlflow.search_runs(
        experiment_names=["alseg"], filter_string="tags.`alseg.run_name` = 'tiny'"
    )
    assert sorted(found["tags.alseg.round"]) == ["0", "1", "parent"]
    child = found[found["tags.alseg.round"] == "1"].iloc[0]
    assert child["metrics.miou"] == pytest.approx(rounds[1]["miou"])
    assert child["metrics.clicks"] == rounds[1]["clicks"]


def test_same_config_and_seed_give_identical_queries_and_metrics(first_run, tmp_path) -> None:
    runs, report = first_run
    again = run_local(load_config(TINY), run_name="tiny", runs_dir=tmp_path, caching=False)
    assert _queries(tmp_path) == _queries(runs)
    for a, b in zip(report["rounds"], again["rounds"], strict=True):
        assert a["miou"] == b["miou"] and a["iou"] == b["iou"]


def test_rerun_executes_only_failed_and_downstream_steps(tmp_path, monkeypatch) -> None:
    cfg = load_config(TINY, {"train.iterations": 3})  # a config this module has not run yet
    monkeypatch.setenv("ALSEG_FAIL_STAGE", "score")
    with pytest.raises(PipelineFailed, match="score · FAILED: InjectedFault"):
        run_local(cfg, run_name="flaky", runs_dir=tmp_path)
    monkeypatch.delenv("ALSEG_FAIL_STAGE")
    log = tmp_path / "logs" / "flaky.log"
    before = log.read_text()
    report = run_local(cfg, run_name="flaky", runs_dir=tmp_path)
    rerun = log.read_text()[len(before) :]
    succeeded = re.findall(r"\[alseg\] (.*?) · done in", before)
    started = re.findall(r"\[alseg\] (.*?) · started", rerun)
    assert {"prepare", "regions", "round 0 · train"} <= set(succeeded)
    assert "round 0 · score" in started and "report" in started
    assert not set(succeeded) & set(started)  # nothing that succeeded runs again
    assert len(re.findall(r"cache hit", rerun)) == len(succeeded)
    assert len(report["rounds"]) == 2


def test_run_with_bad_dataset_fails_in_one_line(tmp_path, capsys) -> None:
    from alseg.cli import main
    from tests.conftest import write_folder_dataset

    root = write_folder_dataset(tmp_path / "data")
    (root / "val" / "img002.png").write_bytes(b"\x89PNG broken")
    code = main(
        [
            "run",
            str(TINY),
            "--set",
            "data.dataset=camvid",
            "--data-root",
            str(root),
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "prepare · FAILED: DataError:" in err and "val/img002.png: corrupt" in err
    outputs = list((tmp_path / "runs" / "pipeline_root").rglob("meta.json"))
    assert outputs == []  # no prepared dataset was left behind


def test_run_with_unknown_config_key_exits_2(tmp_path, capsys) -> None:
    from alseg.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: " + str(TINY) + "\nbudget: {roundz: 2}\n")
    assert main(["run", str(bad), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"alseg: error: {bad}: field 'budget.roundz': unknown key"
    assert not (tmp_path / "runs").exists()


def test_mulactseg_round_runs_stage_one_pseudo_labels_and_stage_two(tmp_path: Path) -> None:
    """Stage 2 every round, with pseudo-labels (and scores) in 2 shards merged."""
    cfg = load_config(REPO / "configs" / "tiny-mulactseg.yaml", {"acquisition.shards": 2})
    report = run_local(cfg, run_name="mulactseg", runs_dir=tmp_path)
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    log = (tmp_path / "logs" / "mulactseg.log").read_text()
    for r in (0, 1):
        assert f"[alseg] round {r} · pseudo · done" in log
        assert f"[alseg] round {r} · merge_pseudo · done" in log
        assert f"[alseg] round {r} · train stage 2 · done" in log
    merged = [p for p in (tmp_path / "pipeline_root").rglob("pseudo_labels/summary.json")
              if "merge-pseudo" in str(p)]  # fmt: skip
    assert len(merged) == 2
    import json

    for path in merged:
        summary = json.loads(path.read_text())
        assert summary["shards"] == 2
        assert summary["pseudo_pixels"] > 0 and 0.0 <= summary["pseudo_pixel_accuracy"] <= 1.0
        labelled = np.load(path.parent / "target_images.npy")
        assert summary["images"] == len(labelled) > 0


def test_pixelpick_queries_single_pixels_end_to_end(tmp_path: Path) -> None:
    cfg = load_config(REPO / "configs" / "tiny.yaml",
                      {"region.type": "pixel", "acquisition.policy": "margin"})  # fmt: skip
    report = run_local(cfg, run_name="pixelpick", runs_dir=tmp_path)
    rounds = report["rounds"]
    assert [r["clicks"] for r in rounds] == [40, 60]  # one click per pixel
    assert [r["labelled_pixels_pct"] for r in rounds] == pytest.approx(
        [100 * 40 / (16 * 64 * 80), 100 * 60 / (16 * 64 * 80)]
    )
