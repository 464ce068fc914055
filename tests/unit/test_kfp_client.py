"""alseg.kfp_client against the recording KFP REST stub (tests/kfp_stub.py)."""

import json
import socket
from pathlib import Path

import pytest

from alseg import kfp_client
from alseg.cluster import ClusterProfile
from alseg.config import load_config
from alseg.kfp_client import ClusterError, six_field_cron
from alseg.runner import compile_pipeline, write_spec
from pipelines.platform import configure_task
from tests.kfp_stub import API, KfpStub

REPO = Path(__file__).parents[2]
ROOT = "s3://alseg-pipelines/runs"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config(REPO / "configs" / "default.yaml", {"budget.rounds": 2})
    out = tmp_path_factory.mktemp("pkg") / "al.yaml"
    return compile_pipeline(cfg, out, configure_task(ClusterProfile()))


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user kfp context file, no token or endpoint from the developer's environment."""
    import kfp

    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "no-context.json"))
    for var in (
        "KFP_TOKEN",
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
        "KF_PIPELINES_SA_TOKEN_PATH",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def stub():
    with KfpStub(max_requests=50) as server:
        yield server


def submit(stub: KfpStub, package: Path, **kwargs) -> str:
    args = {"run_name": "entropy-seed0", "experiment": "alseg-test", "pipeline_root": ROOT}
    return kfp_client.submit(
        package,
        stub.url,
        arguments={"run_name": "entropy-seed0"},
        **{
            **args,
            **kwargs,
        },
    )


def test_submit_posts_spec_inline_with_runtime_config(stub: KfpStub, package: Path) -> None:
    run_id = submit(stub, package)
    assert run_id == "run-1"
    (create,) = stub.find("POST", f"{API}/runs")
    body = create.body
    assert body["display_name"] == "entropy-seed0"
    assert body["experiment_id"] == "exp-1"
    assert body["runtime_config"] == {
        "pipeline_root": ROOT,
        "parameters": {"run_name": "entropy-seed0"},
    }
    # inline spec (no upload): pipeline IR + the kubernetes platform spec
    assert set(body["pipeline_spec"]) == {"pipeline_spec", "platform_spec"}
    assert "kubernetes" in body["pipeline_spec"]["platform_spec"]["platforms"]
    assert not [r for r in stub.requests if "/pipelines" in r.path]
    tasks = body["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"]["enableCache"] is True for t in tasks.values())
    (experiment,) = stub.find("POST", f"{API}/experiments")
    assert experiment.body["display_name"] == "alseg-test"
    assert stub.requests[0].path == f"{API}/healthz"


def test_submit_without_caching_and_existing_experiment(stub: KfpStub, package: Path) -> None:
    first = submit(stub, package)
    second = submit(stub, package, run_name="again", enable_caching=False)
    assert (first, second) == ("run-1", "run-2")
    assert len(stub.find("POST", f"{API}/experiments")) == 1  # second run finds it by name
    body = stub.find("POST", f"{API}/runs")[1].body
    assert body["display_name"] == "again" and body["experiment_id"] == "exp-1"
    tasks = body["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    # enable_cache=False is the proto default, so MessageToDict may drop the key
    assert all(
        t.get("cachingOptions", {}).get("enableCache", False) is False for t in tasks.values()
    )


def test_token_from_env_is_sent_as_bearer(
    stub: KfpStub, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KFP_TOKEN", "tok123")
    submit(stub, package)
    (create,) = stub.find("POST", f"{API}/runs")
    assert create.headers["authorization"] == "Bearer tok123"


def test_retry_posts_to_retry_endpoint(stub: KfpStub, package: Path) -> None:
    run_id = submit(stub, package)
    stub.set_run(run_id, state="FAILED")
    kfp_client.retry(run_id, stub.url)
    (call,) = stub.find("POST", f"{API}/runs/{run_id}:retry")
    assert call.body is None
    assert kfp_client.status(run_id, stub.url)["state"] == "RUNNING"


def test_retry_unknown_run_raises_with_status(stub: KfpStub) -> None:
    with pytest.raises(ClusterError, match=r"404") as err:
        kfp_client.retry("run-404", stub.url)
    assert stub.url in str(err.value)


def test_status_reports_state_times_error_and_tasks(stub: KfpStub, package: Path) -> None:
    run_id = submit(stub, package)
    stub.set_run(
        run_id,
        state="FAILED",
        finished_at="2025-01-02T04:00:00Z",
        error={"code": 2, "message": "task train-2 failed"},
        run_details={
            "task_details": [
                {"display_name": "round 0: train", "state": "SUCCEEDED"},
                {
                    "display_name": "round 1: train",
                    "state": "FAILED",
                    "start_time": "2025-01-02T03:30:00Z",
                    "error": {"code": 2, "message": "OOMKilled"},
                },
            ]
        },
    )
    info = kfp_client.status(run_id, stub.url)
    assert info["run_id"] == run_id and info["name"] == "entropy-seed0"
    assert info["state"] == "FAILED"
    assert info["created_at"].startswith("2025-01-02T03:04:05")
    assert info["finished_at"].startswith("2025-01-02T04:00:00")
    assert info["error"] == "task train-2 failed"
    assert [(t["name"], t["state"], t["error"]) for t in info["tasks"]] == [
        ("round 0: train", "SUCCEEDED", None),
        ("round 1: train", "FAILED", "OOMKilled"),
    ]
    assert info["tasks"][1]["started_at"].startswith("2025-01-02T03:30:00")


def test_schedule_creates_recurring_run_with_six_field_cron(stub: KfpStub, package: Path) -> None:
    rr_id = kfp_client.schedule(
        package,
        stub.url,
        job_name="nightly",
        cron="0 3 * * 1",  # 5 fields: 03:00 on Mondays
        experiment="alseg-nightly",
        pipeline_root=ROOT,
        arguments={"run_name": "nightly"},
        enable_caching=False,
    )
    assert rr_id == "rr-1"
    (call,) = stub.find("POST", f"{API}/recurringruns")
    body = call.body
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1"}}
    assert body["display_name"] == "nightly" and body["mode"] == "ENABLE"
    assert str(body["max_concurrency"]) == "1" and body["no_catchup"] is True
    assert body["experiment_id"] == "exp-1"
    assert body["runtime_config"] == {"pipeline_root": ROOT, "parameters": {"run_name": "nightly"}}
    tasks = body["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert all(
        t.get("cachingOptions", {}).get("enableCache", False) is False for t in tasks.values()
    )


@pytest.mark.parametrize(
    "given, expected",
    [
        ("0 3 * * 1", "0 0 3 * * 1"),  # 5 fields -> seconds 0 prepended
        ("*/15  *  * * *", "0 */15 * * * *"),  # extra spaces collapsed
        ("30 0 3 * * 1", "30 0 3 * * 1"),  # already 6 fields
        ("@daily", "@daily"),
    ],
)
def test_six_field_cron(given: str, expected: str) -> None:
    assert six_field_cron(given) == expected


@pytest.mark.parametrize("bad", ["", "0 3 * *", "0 0 3 * * 1 2025"])
def test_cron_with_wrong_field_count_rejected(bad: str, stub: KfpStub, package: Path) -> None:
    with pytest.raises(ValueError, match="5 fields"):
        kfp_client.schedule(package, stub.url, job_name="x", cron=bad)
    assert stub.requests == []  # rejected before any request


def test_server_error_becomes_cluster_error_naming_host(stub: KfpStub, package: Path) -> None:
    stub.fail_on("POST", f"{API}/runs", 500)
    with pytest.raises(ClusterError) as err:
        submit(stub, package)
    message = str(err.value)
    assert stub.url in message and "HTTP 500" in message and "entropy-seed0" in message


def test_unhealthy_server_fails_at_once(stub: KfpStub) -> None:
    stub.fail_on("GET", f"{API}/healthz", 503)
    with pytest.raises(ClusterError, match="HTTP 503"):
        kfp_client.status("run-1", stub.url)
    assert len(stub.requests) == 1  # one health check, no 5 x 5 s retry loop


def test_unreachable_host_is_a_cluster_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    with pytest.raises(ClusterError, match="cannot reach") as err:
        kfp_client.status("run-1", host)
    assert host in str(err.value)


def test_bad_inputs_rejected_before_any_request(stub: KfpStub, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scheme"):
        kfp_client.status("run-1", "127.0.0.1:8888")
    with pytest.raises(ValueError, match="alseg compile"):
        kfp_client.submit(tmp_path / "missing.yaml", stub.url, run_name="x")
    assert stub.requests == []


# ------------------------------------------------- multi-user mode, auth, namespace, versions
@pytest.fixture
def multi_user():
    with KfpStub(max_requests=50, multi_user=True) as server:
        yield server


def test_multi_user_without_namespace_or_auth_fails_before_any_call(
    multi_user: KfpStub, package: Path
) -> None:
    with pytest.raises(ClusterError, match=r"multi-user: pass --namespace .* and auth") as err:
        submit(multi_user, package)
    assert "KF_PIPELINES_SA_TOKEN_PATH" in str(err.value)
    with pytest.raises(ClusterError, match=r"pass auth: --token") as err:
        submit(multi_user, package, namespace="team-a")
    assert "--namespace" not in str(err.value)
    with pytest.raises(ClusterError, match=r"pass --namespace"):
        submit(multi_user, package, token="tok")
    assert {r.path for r in multi_user.requests} == {f"{API}/healthz"}


def test_multi_user_stub_rejects_what_the_server_rejects(multi_user: KfpStub) -> None:
    """The stub itself: 401 without a bearer token, 400 for an experiment without namespace."""
    import urllib3

    def call(method: str, path: str, body: dict | None = None, token: bool = True) -> int:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer t"
        data = json.dumps(body).encode() if body is not None else None
        return urllib3.request(method, multi_user.url + path, body=data, headers=headers).status

    assert call("GET", f"{API}/healthz", token=False) == 200
    assert call("GET", f"{API}/experiments", token=False) == 401
    assert call("GET", f"{API}/experiments") == 400
    assert call("GET", f"{API}/experiments?namespace=team-a") == 200
    assert call("POST", f"{API}/experiments", {"display_name": "x"}) == 400
    assert call("POST", f"{API}/experiments", {"display_name": "x", "namespace": "team-a"}) == 200


def test_multi_user_submit_with_namespace_token_and_service_account(
    multi_user: KfpStub, package: Path
) -> None:
    run_id = submit(
        multi_user, package, namespace="team-a", token="tok", service_account="alseg-runner"
    )
    (experiment,) = multi_user.find("POST", f"{API}/experiments")
    assert experiment.body["namespace"] == "team-a"
    (listing,) = multi_user.find("GET", f"{API}/experiments")
    assert listing.query["namespace"] == ["team-a"]
    (create,) = multi_user.find("POST", f"{API}/runs")
    assert create.body["service_account"] == "alseg-runner"
    assert all(r.headers.get("authorization") == "Bearer tok" for r in multi_user.requests)
    assert kfp_client.status(run_id, multi_user.url, token="tok")["state"] == "PENDING"
    kfp_client.retry(run_id, multi_user.url, token="tok")


def test_service_account_token_file_authenticates(
    multi_user: KfpStub, package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("projected-1\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    run_id = submit(multi_user, package, namespace="team-a")
    token_file.write_text("projected-2\n")  # the kubelet rotates it; read per request
    kfp_client.status(run_id, multi_user.url)
    tokens = [r.headers.get("authorization") for r in multi_user.requests]
    assert tokens[0] == "Bearer projected-1" and tokens[-1] == "Bearer projected-2"
    assert None not in tokens
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(ClusterError, match=r"KF_PIPELINES_SA_TOKEN_PATH=.*missing names no file"):
        kfp_client.status(run_id, multi_user.url)


@pytest.mark.parametrize(
    "tag, expected",
    [("2.14.0", (2, 14, 0)), ("v2.16.1-rc.0", (2, 16, 1)), ("2.5", (2, 5)), ("unknown", None)],
)
def test_parse_version(tag: str, expected: tuple | None) -> None:
    assert kfp_client.parse_version(tag) == expected


@pytest.fixture(scope="module")
def sweep_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from alseg.sweeps import load_sweep
    from pipelines.sweep import build_sweep

    sweep = load_sweep(REPO / "configs" / "sweeps" / "tiny.yaml")
    out = tmp_path_factory.mktemp("sweep") / "sweep.yaml"
    pipeline = build_sweep(sweep.name, sweep.configs, 1, configure_task(ClusterProfile()))
    return write_spec(pipeline, out)


def test_sweep_to_an_old_backend_is_a_clear_error(sweep_package: Path, package: Path) -> None:
    assert kfp_client.is_sweep_package(sweep_package) and not kfp_client.is_sweep_package(package)
    with KfpStub(tag_name="2.13.1") as old:
        with pytest.raises(ClusterError, match=r"backend 2\.13\.1 .* cannot run a sweep.*>= 2\.14"):
            submit(old, sweep_package)
        assert not old.find("POST", f"{API}/runs")
    with KfpStub(tag_name="2.14.0") as new:
        assert submit(new, sweep_package) == "run-1"


def test_scheduled_run_names_need_backend_2_16(package: Path) -> None:
    kwargs = {"job_name": "nightly", "cron": "0 2 * * *", "arguments": {"run_name": "x-[[Index]]"}}
    with KfpStub(tag_name="2.15.0") as old:
        with pytest.raises(ClusterError, match=r"run-name macros.*>= 2\.16"):
            kfp_client.schedule(package, old.url, **kwargs)
        assert not old.find("POST", f"{API}/recurringruns")
    with KfpStub(tag_name="2.16.0") as new:
        assert kfp_client.schedule(package, new.url, **kwargs) == "rr-1"


def test_backend_without_version_passes_with_a_warning(package: Path) -> None:
    with KfpStub(tag_name="unknown") as dev:
        with pytest.warns(UserWarning, match="reports no version"):
            submit(dev, package)
