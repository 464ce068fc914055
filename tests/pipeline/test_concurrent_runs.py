"""Two experiments with different run names run at the same time into one runs folder (one
MLflow database, one pipeline root, one cache), with test credentials in their environment:
neither corrupts the other, the synthetic one matches an uninterrupted run alone, the other
exercises the ``folder`` dataset layout end to end, and the credentials appear nowhere (the
logs, the terminal, MLflow params and tags, the compiled pipeline YAML)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from tests.conftest import write_folder_dataset
from tests.pipeline.conftest import TINY

pytestmark = pytest.mark.slow
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAALSEGTEST7SECRET",
    "AWS_SECRET_ACCESS_KEY": "alsegTest/Secret+Value0123",
    "KFP_TOKEN": "alseg-test-bearer-token-0123",
    "MLFLOW_TRACKING_PASSWORD": "alseg-test-mlflow-pw",
}


def write_folder_layout(root: Path) -> Path:
    """The tiny CamVid-layout fixture rearranged into the ``folder`` layout:
    images/{split}/NAME.png, labels/{split}/NAME.png and classes.json."""
    source = write_folder_dataset(root.parent / "camvid-layout")
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for path in sorted((source / split).iterdir()):
            path.rename(root / "images" / split / path.name)
            (source / f"{split}annot" / path.name).rename(root / "labels" / split / path.name)
    (source / "classes.json").rename(root / "classes.json")
    return root


def alseg(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alseg.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_runs_share_a_runs_folder_without_leaking_credentials(tiny_run, tmp_path) -> None:
    _, reference = tiny_run
    runs = tmp_path / "runs"
    root = write_folder_layout(tmp_path / "folder-data")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | SECRETS
    folder_args = [
        "--set", "data.dataset=folder", "--data-root", str(root),
        "--set", "data.image_size=[32,48]", "--set", "region.size=8",
        "--set", "budget.initial_clicks=20", "--set", "budget.clicks_per_round=10",
    ]  # fmt: skip
    procs = {
        "alpha": alseg("run", str(TINY), "--runs-dir", str(runs), "--run-name", "alpha", env=env),
        "beta": alseg("run", str(TINY), *folder_args, "--runs-dir", str(runs), "--run-name",
                      "beta", env=env),
    }  # fmt: skip
    terminal = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}
    assert {name: proc.returncode for name, proc in procs.items()} == {"alpha": 0, "beta": 0}, (
        terminal
    )

    mlflow.set_tracking_uri(f"sqlite:///{runs / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["alseg"])
    for name, dataset, clicks in (("alpha", "synthetic", [40, 60]), ("beta", "folder", [20, 30])):
        mine = found[found["tags.alseg.run_name"] == name]
        assert sorted(mine["tags.alseg.round"]) == ["0", "1", "parent"]
        parent = mine[mine["tags.alseg.round"] == "parent"].iloc[0]
        assert parent["status"] == "FINISHED" and parent["params.data.dataset"] == dataset
        children = mine[mine["tags.alseg.round"] != "parent"].sort_values("tags.alseg.round")
        assert children["metrics.clicks"].tolist() == clicks
    alpha = found[found["tags.alseg.run_name"] == "alpha"]
    alpha = alpha[alpha["tags.alseg.round"] != "parent"]
    assert sorted(alpha["metrics.miou"]) == sorted(r["miou"] for r in reference["rounds"])

    compiled = tmp_path / "compiled.yaml"
    done = subprocess.run([sys.executable, "-m", "alseg.cli", "compile", str(TINY), "-o",
                           str(compiled)], env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    spec = compiled.read_text()
    assert "alseg-s3" in spec  # credentials reach the tasks from the Kubernetes Secret
    texts = {
        "compiled YAML": spec + done.stdout + done.stderr,
        "terminal": "".join(terminal.values()),
        "logs": "".join(p.read_text() for p in (runs / "logs").glob("*.log")),
        "local specs": "".join(p.read_text() for p in (runs / "specs").glob("*.yaml")),
        "MLflow params and tags": json.dumps(found.astype(str).to_dict()),
    }
    for where, text in texts.items():
        for name, value in SECRETS.items():
            assert value not in text, f"{name} found in the {where}"
