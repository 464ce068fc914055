"""Exact resume: stage processes SIGKILLed at several points of the tiny pipeline (one runs
folder, one run name), then the same command again finishes with the queries and metrics of an
uninterrupted run, re-executing only the steps that had not finished."""

import random
import re
from pathlib import Path

import mlflow
import pytest

from alseg.config import load_config
from alseg.runner import PipelineFailed, run_local
from tests.pipeline.conftest import TINY, run_queries

pytestmark = pytest.mark.slow

# (stage, point): each target depends on the previous one, so it cannot have finished before its
# attempt, whatever order kfp.local picks among ready tasks. A number is seconds after the stage
# starts: a random point mid-work (the tiny train step takes about 1 s on 2 cores, its set-up
# alone over 0.1 s).
KILLS = [
    ("prepare", "publish"),  # output complete in its temporary folder, not yet renamed
    ("train", f"{random.Random(16).uniform(0.05, 0.3):.3f}"),  # round 0, mid-training
    ("score", "publish"),  # round 0
    ("oracle", "start"),  # round 1 (round 0's oracle finished before round 0's train)
    ("evaluate", "end"),  # output published, MLflow not yet logged, no cache entry
    ("report", "end"),  # the last step
]


def _segments(log: str) -> list[str]:
    """The log of each attempt (kfp.local starts each with 'Running pipeline')."""
    return re.split(r"(?=Running pipeline: )", log)[1:]


def _parent(runs: Path, name: str):
    mlflow.set_tracking_uri(f"sqlite:///{runs / 'mlflow.db'}")
    found = mlflow.search_runs(
        experiment_names=["alseg"], filter_string=f"tags.`alseg.run_name` = '{name}'"
    )
    return found, found[found["tags.alseg.round"] == "parent"]


def test_sigkill_then_rerun_matches_an_uninterrupted_run(tiny_run, tmp_path, monkeypatch):
    reference_runs, reference = tiny_run
    runs = tmp_path / "runs"
    for i, (stage, point) in enumerate(KILLS):
        monkeypatch.setenv("ALSEG_KILL_AT", f"{stage}:{point}")
        monkeypatch.setenv("ALSEG_KILL_ONCE_FILE", str(tmp_path / f"killed-{i}"))
        with pytest.raises(PipelineFailed, match=rf"{stage}"):
            run_local(load_config(TINY), run_name="tiny", runs_dir=runs)
        assert (tmp_path / f"killed-{i}").exists()  # the kill point was reached
        _, parent = _parent(runs, "tiny")
        assert parent["status"].tolist() == ["FAILED"]
    monkeypatch.delenv("ALSEG_KILL_AT")
    report = run_local(load_config(TINY), run_name="tiny", runs_dir=runs)

    assert run_queries(runs) == run_queries(reference_runs)
    for got, want in zip(report["rounds"], reference["rounds"], strict=True):
        assert (got["miou"], got["iou"], got["clicks"]) == (want["miou"], want["iou"],
                                                            want["clicks"])  # fmt: skip
    assert (report["auALC"], report["gini"]) == (reference["auALC"], reference["gini"])

    segments = _segments((runs / "logs" / "tiny.log").read_text())
    assert len(segments) == len(KILLS) + 1
    finished: set[str] = set()
    for segment in segments:
        started = re.findall(r"\[alseg\] (.*?) · started", segment)
        done = set(re.findall(r"\[alseg\] (.*?) · done in", segment))
        assert not finished & set(started), "a finished step ran again"
        killed = started[-1] if segment is not segments[-1] else None
        finished |= done - {killed}  # the killed step (even after 'done': evaluate:end) reruns
    assert {"prepare", "round 0 · train", "round 1 · oracle", "report"} <= finished
    assert not list((runs / "pipeline_root").rglob(".*.tmp-*"))  # no temporaries left

    found, parent = _parent(runs, "tiny")
    assert parent["status"].tolist() == ["FINISHED"]  # the same parent run, resumed
    assert sorted(found["tags.alseg.round"]) == ["0", "1", "parent"]  # no duplicate children
    child = found[found["tags.alseg.round"] == "1"].iloc[0]
    assert child["metrics.miou"] == pytest.approx(reference["rounds"][1]["miou"])
