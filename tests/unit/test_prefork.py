"""Pre-forked local tasks (alseg.prefork): a task run through the server behaves as the same
command in a fresh interpreter (output, working directory, environment, exit status, signal);
only its start differs (modules already imported)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alseg import prefork, runner
from alseg.stages.registry import STAGES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="alseg.prefork forks (Linux)")

PROBE = """
import os
import sys


def probe(mode: str) -> str:
    print(f"probe cwd={os.getcwd()} env={os.environ.get('PROBE_VALUE')}", flush=True)
    if mode == "fail":
        raise RuntimeError("probe failed")
    if mode == "kill":
        os.kill(os.getpid(), 9)
    return f"warm={'xml.dom.minidom' in sys.modules} cwd_on_path={os.getcwd() in sys.path}"
"""


@pytest.fixture(scope="module")
def sockets() -> Iterator[str]:
    """A server whose one kind (cpu) has ``xml.dom.minidom`` imported (kfp never imports it)."""
    folder = tempfile.mkdtemp(prefix="alseg-prefork-test-", dir="/tmp")
    code = (
        f"from alseg import prefork; prefork.serve({folder!r}, {{'cpu': ['xml.dom.minidom']}}, ())"
    )
    server = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(f"{folder}/cpu.sock") and time.monotonic() < deadline:
        time.sleep(0.02)
    yield folder
    server.terminate()
    server.wait()
    shutil.rmtree(folder, ignore_errors=True)


def run_task(shim: str, tmp_path: Path, mode: str) -> tuple[int, str, str]:
    """``<shim> -m kfp.dsl.executor_main`` on PROBE: exit status, stdout, returned string."""
    component = tmp_path / "probe.py"
    component.write_text(PROBE)
    output = tmp_path / f"out-{mode}.txt"
    executor_input = {
        "inputs": {"parameterValues": {"mode": mode}},
        "outputs": {"parameters": {"Output": {"outputFile": str(output)}},
                    "outputFile": str(tmp_path / "executor_output.json")},
    }  # fmt: skip
    command = [
        shim, "-m", prefork.EXECUTOR, "--component_module_path", str(component),
        "--function_to_execute", "probe", "--executor_input", json.dumps(executor_input),
    ]  # fmt: skip
    env = {**os.environ, "PROBE_VALUE": mode, "_KFP_RUNTIME": "true"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    returned = json.loads((tmp_path / "executor_output.json").read_text()) if mode == "ok" else {}
    return done.returncode, done.stdout + done.stderr, returned.get("parameterValues", {})


def shims(tmp_path: Path, sockets: str) -> dict[str, str]:
    """A shim served by ``sockets``, and one whose folder has no server (a fresh interpreter)."""
    return {
        "served": prefork.write_shim(str(tmp_path / "served"), sys.executable, sockets, {}),
        "fresh": prefork.write_shim(str(tmp_path / "fresh"), sys.executable, str(tmp_path), {}),
    }


def test_served_task_matches_a_fresh_interpreter(sockets: str, tmp_path: Path) -> None:
    results = {
        name: run_task(shim, tmp_path, "ok") for name, shim in shims(tmp_path, sockets).items()
    }
    for name, (code, output, _) in results.items():
        assert code == 0, (name, output)
        assert f"probe cwd={tmp_path} env=ok" in output
    assert results["served"][2]["Output"] == "warm=True cwd_on_path=True"
    assert results["fresh"][2]["Output"] == "warm=False cwd_on_path=True"


@pytest.mark.parametrize(("mode", "expected"), [("fail", 1), ("kill", -signal.SIGKILL)])
def test_exit_status_and_signal_pass_through(
    sockets: str, tmp_path: Path, mode: str, expected: int
) -> None:
    for name, shim in shims(tmp_path, sockets).items():
        code, output, _ = run_task(shim, tmp_path, mode)
        assert code == expected, (name, output)
        assert f"env={mode}" in output
    if mode == "fail":
        assert "RuntimeError: probe failed" in output


def test_other_commands_run_the_interpreter_itself(sockets: str, tmp_path: Path) -> None:
    shim = shims(tmp_path, sockets)["served"]
    done = subprocess.run([shim, "-c", "import sys; print(sys.prefix); sys.exit(3)"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 3
    assert done.stdout.strip() == sys.prefix


def test_task_servers_follow_the_stage_registry() -> None:
    servers, kinds = runner.task_servers("sqlite:////tmp/mlflow.db")
    for stage in STAGES.values():  # every stage starts with its module imported
        kind = stage.image if stage.rounds else "once"
        assert kinds[stage.component] == kind
        assert stage.entry.partition(":")[0] in servers[kind]
    assert servers["gpu"][-2:] == servers["once"][-2:] == [
        "mlflow", "mlflow.store.tracking.sqlalchemy_store"
    ]  # fmt: skip
    lean = ("alseg.stages.model_stages", "alseg.stages.report", "mlflow")
    assert not set(servers["cpu"]) & set(lean)  # select / oracle: no torch, MLflow, matplotlib
    untracked, _ = runner.task_servers(None)
    assert not any(m.startswith("mlflow") for kind in untracked.values() for m in kind)
