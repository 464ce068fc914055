"""A small experiment whose dataset lives in a bucket, tracked by a real MLflow server whose
artifacts are proxied to the same S3 server."""

import uuid
from pathlib import Path

import mlflow
import pytest

from alseg import tracking
from alseg.config import load_config
from alseg.runner import run_local
from tests.conftest import write_folder_dataset
from tests.integration.mlflow_server import start_mlflow_server

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(s3, tmp_path, monkeypatch):
    artifacts = f"mlflow-{uuid.uuid4().hex[:8]}"
    s3.client().create_bucket(Bucket=artifacts)
    server = start_mlflow_server(tmp_path, s3, artifacts)
    server.bucket = artifacts
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    yield server
    server.stop()


def upload_folder(client, folder: Path, bucket: str, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")


def test_experiment_reads_dataset_from_s3_and_logs_to_mlflow_server(
    s3, bucket, mlflow_server, tmp_path
):
    upload_folder(s3.client(), write_folder_dataset(tmp_path / "data"), bucket, "tiny")
    cfg = load_config(
        REPO / "configs" / "tiny.yaml",
        {
            "data.dataset": "camvid",
            "data.root": f"s3://{bucket}/tiny",
            "data.image_size": [32, 40],
            "region.size": 8,
            "budget.initial_clicks": 20,
            "budget.clicks_per_round": 10,
        },
    )
    report = run_local(cfg, run_name="s3-run", runs_dir=tmp_path / "runs", experiment="it")
    assert [r["clicks"] for r in report["rounds"]] == [20, 30]

    runs = mlflow.search_runs(experiment_names=["it"])
    assert sorted(runs["tags.alseg.round"]) == ["0", "1", "parent"]
    parent = runs[runs["tags.alseg.round"] == "parent"].iloc[0]
    assert parent["params.data.root"] == f"s3://{bucket}/tiny"
    assert "AWS" not in " ".join(c for c in runs.columns if c.startswith("params."))
    stored = s3.client().list_objects_v2(Bucket=mlflow_server.bucket).get("Contents", [])
    assert any(obj["Key"].endswith("report.md") for obj in stored)  # proxied to S3


def test_retried_round_logging_does_not_duplicate_child_runs(mlflow_server):
    metrics = {
        "round": 2,
        "miou": 0.5,
        "pixel_accuracy": 0.8,
        "clicks": 10,
        "clicks_pct_of_pool": 1.0,
        "labelled_pixels_pct": 2.0,
        "classes": ["a", "b"],
        "iou": [0.4, float("nan")],
    }
    first = tracking.log_round("retry-run", "it-retry", metrics)
    second = tracking.log_round("retry-run", "it-retry", {**metrics, "miou": 0.6})
    assert first == second
    runs = mlflow.search_runs(experiment_names=["it-retry"])
    assert sorted(runs["tags.alseg.round"]) == ["2", "parent"]
    child = runs[runs["tags.alseg.round"] == "2"].iloc[0]
    assert child["metrics.miou"] == 0.6 and child["metrics.iou_a"] == 0.4
    assert "metrics.iou_b" not in runs.columns or child.isna()["metrics.iou_b"]
