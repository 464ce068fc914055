"""The client-only install (requirements/client.txt): compile and submit without torch.

The commands run in a subprocess whose import system refuses every third-party module that is
not installed by a distribution of the client requirements (or one of their dependencies): what
they import is exactly what the client install provides, and torch, MLflow and boto3 are not in it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.kfp_stub import API, KfpStub

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "requirements" / "client.txt"
NEVER = {"torch", "torchvision", "timm", "mlflow", "boto3"}

BLOCKER = """
import json, os, sys
ALLOWED = set(json.loads(os.environ["ALSEG_TEST_ALLOWED"]))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"not in the client install: {name}", name=name)
sys.meta_path.insert(0, Refuse())
from alseg.cli import main
sys.exit(main(sys.argv[1:]))
"""


def requirements() -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in CLIENT.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: list[str]) -> set[str]:
    """Distributions installed by ``names`` and their (marker-true, non-extra) dependencies."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def allowed_modules() -> list[str]:
    dists = closure([r.name for r in requirements()])
    modules = {
        top
        for top, owners in metadata.packages_distributions().items()
        if any(_canonical(owner) in dists for owner in owners)
    }
    return sorted(modules | {"alseg", "components", "pipelines", "tests"})


def test_client_requirements_leave_out_torch_and_agree_with_pyproject() -> None:
    allowed = set(allowed_modules())
    assert not NEVER & allowed, NEVER & allowed
    pinned = {
        _canonical(Requirement(dep).name): str(Requirement(dep).specifier)
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for req in requirements():
        name = _canonical(req.name)
        if name in pinned:
            assert str(req.specifier) == pinned[name], (req, pinned[name])


def run_client(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        "ALSEG_TEST_ALLOWED": json.dumps(allowed_modules()),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(cwd),
    }
    return subprocess.run([sys.executable, "-c", BLOCKER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("source", ["configs/tiny.yaml", "configs/sweeps/nightly.yaml"])
def test_compile_runs_on_the_client_install(source: str, tmp_path: Path) -> None:
    result = run_client(["compile", str(ROOT / source), "-o", "p.yaml"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "p.yaml").stat().st_size > 1000


def test_submit_runs_on_the_client_install(tmp_path: Path) -> None:
    (tmp_path / ".config" / "kfp").mkdir(parents=True)  # no kfp context of the developer
    with KfpStub(max_requests=20) as stub:
        args = ["submit", str(ROOT / "configs/tiny.yaml"), "--host", stub.url, "--token", "t"]
        result = run_client(args, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.splitlines()[0] == "run-1"
        assert len(stub.find("POST", f"{API}/runs")) == 1


def test_the_blocker_refuses_torch(tmp_path: Path) -> None:
    """The harness itself: a command that needs torch fails under it."""
    code = BLOCKER.replace(
        "from alseg.cli import main\nsys.exit(main(sys.argv[1:]))", "import torch"
    )
    env = {"ALSEG_TEST_ALLOWED": json.dumps(allowed_modules()), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode != 0 and "not in the client install: torch" in result.stderr
