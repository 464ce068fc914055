"""``alseg submit / retry / status / schedule`` end to end against the recording KFP stub."""

import json
from pathlib import Path

import kfp
import pytest

from alseg.cli import main
from tests.kfp_stub import KfpStub

API = "/apis/v2beta1"
REPO = Path(__file__).parents[2]


@pytest.fixture
def stub(tmp_path, monkeypatch):
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "no-context.json"))
    monkeypatch.chdir(tmp_path)  # compiled packages go to ./build
    for var in ("KFP_TOKEN", "KF_PIPELINES_ENDPOINT"):
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
    assert Path("build/nightly-1.yaml").is_file()


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
    err = capsys.readouterr().err.strip()
    assert err.startswith("alseg: cluster error:") and "HTTP 500" in err and "\n" not in err


def test_submit_a_sweep_grid_compiles_the_sweep_pipeline(stub) -> None:
    grid = REPO / "configs" / "sweeps" / "nightly.yaml"
    assert main(["submit", str(grid), "--host", stub.url, "--experiment", "nightly"]) == 0
    (create,) = stub.find("POST", f"{API}/runs")
    assert create.body["display_name"] == "nightly"
    assert create.body["runtime_config"]["parameters"] == {"experiment": "nightly"}
    spec = create.body["pipeline_spec"]["pipeline_spec"]
    loop = next(t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    assert loop["iteratorPolicy"]["parallelismLimit"] == 4
    items = spec["root"]["inputDefinitions"]["parameters"]["configs"]["defaultValue"]
    assert len(items) == 8 and json.loads(items[0])["data"]["root"] == "s3://alseg-datasets/camvid"
