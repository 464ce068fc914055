"""``alseg submit / retry / status / schedule`` end to end against the recording KFP stub."""

import json
import re
import subprocess
import sys
from pathlib import Path

import kfp
import pytest
import yaml

from alseg.cli import main
from tests.kfp_stub import KfpStub

API = "/apis/v2beta1"
REPO = Path(__file__).parents[2]


@pytest.fixture
def stub(tmp_path, monkeypatch):
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "no-context.json"))
    monkeypatch.chdir(tmp_path)  # compiled packages go to ./build
    for var in ("KFP_TOKEN", "KF_PIPELINES_ENDPOINT", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    with KfpStub(max_requests=50) as server:
        yield server


def test_submit_sends_config_run_name_and_pipeline_root(stub, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-value-123")
    code = main(
        [
            "submit",
            str(REPO / "configs/tiny.yaml"),
            "--host",
            stub.url,
            "--run-name",
            "nightly-1",
            "--experiment",
            "nightly",
            "--set",
            "acquisition.policy=margin",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run-1" and out[1].startswith(stub.url)
    (create,) = stub.find("POST", f"{API}/runs")
    runtime = create.body["runtime_config"]
    assert runtime["pipeline_root"] == "s3://alseg-pipelines/runs"
    params = runtime["parameters"]
    assert params["run_name"] == "nightly-1" and params["experiment"] == "nightly"
    assert json.loads(params["config"])["acquisition"]["policy"] == "margin"
    assert "sekrit-value-123" not in json.dumps(create.body)  # no credentials travel
    assert "cluster" not in json.loads(params["config"])  # compile-time settings only
    assert Path("build/tiny.yaml").is_file()


def test_retry_and_status(stub, capsys) -> None:
    main(["submit", str(REPO / "configs/tiny.yaml"), "--host", stub.url])
    stub.set_run("run-1", state="FAILED")
    assert main(["retry", "run-1", "--host", stub.url]) == 0
    assert len(stub.find("POST", f"{API}/runs/run-1:retry")) == 1
    capsys.readouterr()
    assert main(["status", "run-1", "--host", stub.url]) == 0
    assert "run-1" in capsys.readouterr().out


def test_schedule_converts_cron(stub) -> None:
    code = main(
        [
            "schedule",
            str(REPO / "configs/tiny.yaml"),
            "--host",
            stub.url,
            "--cron",
            "0 2 * * *",
            "--name",
            "nightly",
        ]
    )
    assert code == 0
    (call,) = stub.find("POST", f"{API}/recurringruns")
    assert call.body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}


def test_server_error_exits_1_with_one_line(stub, capsys) -> None:
    stub.fail_on("POST", f"{API}/runs", 500)
    assert main(["submit", str(REPO / "configs/tiny.yaml"), "--host", stub.url]) == 1
    note, err = capsys.readouterr().err.strip().split("\n")  # images-by-tag note, then the error
    assert note.startswith("alseg: note: images by tag") and "sha256" in note
    assert err.startswith("alseg: cluster error:") and "HTTP 500" in err


def test_submit_a_sweep_grid_compiles_the_sweep_pipeline(stub) -> None:
    grid = REPO / "configs" / "sweeps" / "nightly.yaml"
    assert main(["submit", str(grid), "--host", stub.url, "--experiment", "nightly"]) == 0
    (create,) = stub.find("POST", f"{API}/runs")
    assert create.body["display_name"] == "nightly"
    assert create.body["runtime_config"]["parameters"] == {
        "experiment": "nightly",
        "run_name": "{name}",  # each experiment under its own config name
    }
    spec = create.body["pipeline_spec"]["pipeline_spec"]
    loop = next(t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    assert loop["iteratorPolicy"]["parallelismLimit"] == 4
    items = spec["root"]["inputDefinitions"]["parameters"]["configs"]["defaultValue"]
    assert len(items) == 8 and json.loads(items[0])["data"]["root"] == "s3://alseg-datasets/camvid"


def _tasks_caching(spec: dict) -> dict[str, bool]:
    """display name -> enableCache over every DAG of a compiled spec."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {
        task["taskInfo"]["name"]: task.get("cachingOptions", {}).get("enableCache", False)
        for dag in dags
        for task in dag["tasks"].values()
        if "componentRef" in task and "dag" not in spec["components"][task["componentRef"]["name"]]
    }


def test_multi_user_cli_passes_with_namespace_token_and_auth(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "no-context.json"))
    monkeypatch.chdir(tmp_path)
    for var in ("KFP_TOKEN", "KF_PIPELINES_ENDPOINT", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    tiny = str(REPO / "configs/tiny.yaml")
    with KfpStub(max_requests=50, multi_user=True) as stub:
        assert main(["submit", tiny, "--host", stub.url]) == 1
        assert "multi-user: pass --namespace" in capsys.readouterr().err
        target = ["--host", stub.url, "--namespace", "team-a", "--token", "tok"]
        runner = ["--service-account", "alseg-pipeline-runner"]
        assert main(["submit", tiny, *target, *runner]) == 0
        assert main(["status", "run-1", "--host", stub.url]) == 1  # no auth
        assert "multi-user: pass auth: --token" in capsys.readouterr().err
        assert main(["status", "run-1", "--host", stub.url, "--token", "tok"]) == 0
        assert main(["retry", "run-1", "--host", stub.url, "--token", "tok"]) == 0
        grid = str(REPO / "configs/sweeps/tiny.yaml")
        assert main(["schedule", grid, *target, *runner, "--cron", "0 2 * * *"]) == 0
        (run,) = stub.find("POST", f"{API}/runs")
        (recurring,) = stub.find("POST", f"{API}/recurringruns")
        assert {run.body["service_account"], recurring.body["service_account"]} == {
            "alseg-pipeline-runner"
        }
        calls = [r for r in stub.requests if not r.path.endswith("/healthz")]
        assert calls and all(r.headers.get("authorization") == "Bearer tok" for r in calls)
        assert {e["namespace"] for e in stub.experiments.values()} == {"team-a"}


def test_schedule_a_sweep_names_each_night_and_caches_only_data(stub) -> None:
    grid = str(REPO / "configs/sweeps/tiny.yaml")
    assert main(["schedule", grid, "--host", stub.url, "--cron", "0 2 * * *"]) == 0
    (call,) = stub.find("POST", f"{API}/recurringruns")
    assert call.body["display_name"] == "tiny-sweep-scheduled"
    assert call.body["runtime_config"]["parameters"]["run_name"] == "{name}-[[ScheduledTime]]"
    assert "enable_caching" not in json.dumps(call.body)  # per-task policy, not overridden
    caching = _tasks_caching(call.body["pipeline_spec"]["pipeline_spec"])
    cached = {name for name, on in caching.items() if on}
    assert cached == {"configure", "prepare", "regions"}
    assert {"round 0: train", "round 0: evaluate", "round 0: score", "report"} <= set(caching)


def test_submit_with_dated_run_name(stub) -> None:
    tiny = str(REPO / "configs/tiny.yaml")
    assert main(["submit", tiny, "--host", stub.url, "--run-name", "{name}-{date}"]) == 0
    (create,) = stub.find("POST", f"{API}/runs")
    name = create.body["display_name"]
    assert re.fullmatch(r"tiny-\d{8}-\d{6}", name), name
    assert create.body["runtime_config"]["parameters"]["run_name"] == name


def test_compile_a_grid_writes_the_sweep_pipeline(tmp_path, capsys) -> None:
    out = tmp_path / "sweep.yaml"
    grid = str(REPO / "configs/sweeps/tiny.yaml")
    assert main(["compile", grid, "-o", str(out), "--caching", "data"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    spec, platform = yaml.safe_load_all(out.read_text())
    assert spec["pipelineInfo"]["name"] == "al-sweep"
    assert (
        "images: cpu=ghcr.io/alseg/alseg-python-cpu:0.1.0 (tag)"
        in spec["pipelineInfo"]["description"]
    )
    assert "kubernetes" in platform["platforms"]
    assert _tasks_caching(spec)["round 0: train"] is False


def test_images_by_digest_are_recorded(tmp_path, monkeypatch) -> None:
    digest = "registry.example/ml/alseg-python-gpu@sha256:" + "ab" * 32
    code = f"""
import os, sys, yaml
os.environ["ALSEG_GPU_IMAGE"] = {digest!r}
from alseg.cli import main
sys.exit(main(["compile", {str(REPO / "configs/tiny.yaml")!r}, "-o", "p.yaml"]))
"""
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=120)
    spec = next(yaml.safe_load_all((tmp_path / "p.yaml").read_text()))
    assert f"gpu={digest} (digest)" in spec["pipelineInfo"]["description"]
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert digest in images


@pytest.mark.parametrize("bad", ["Registry/UPPER:1", "repo", "repo@sha256:abc"])
def test_bad_image_reference_is_rejected(bad: str) -> None:
    import components

    with pytest.raises(ValueError, match="ALSEG_CPU_IMAGE"):
        components.image_kind(bad)


def test_expand_run_name() -> None:
    import datetime

    from alseg.cluster_cli import expand_run_name

    night = datetime.datetime(2026, 12, 3, 2, 0, 5, tzinfo=datetime.UTC)
    assert expand_run_name("{name}-{date}", "nightly", night) == "nightly-20261203-020005"
    assert expand_run_name("{date}", "{name}", night) == "20261203-020005"
    assert expand_run_name("{name}-[[ScheduledTime]]", "x", night) == "x-[[ScheduledTime]]"
