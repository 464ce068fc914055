"""The suite's skip policy (tests/conftest.py): skip reasons are printed (``make test`` passes
``-rs``), and under CI=true a skipped real-server, schema or CamVid test fails the run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
SKIPPING = 'import pytest\n\n\ndef test_needs_a_server():\n    pytest.skip("no weed binary")\n'


def run_pytest(tmp: Path, ci: bool) -> subprocess.CompletedProcess:
    """pytest -q -rs on a copy of tests/conftest.py with one skipping test in integration/
    and one in unit/."""
    tests = tmp / "tests"
    for sub in ("integration", "unit"):
        (tests / sub).mkdir(parents=True, exist_ok=True)
        (tests / sub / f"test_{sub}_skip.py").write_text(SKIPPING)
    (tests / "__init__.py").touch()
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_skips_are_reported_with_their_reason(tmp_path) -> None:
    done = run_pytest(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout and "no weed binary" in done.stdout


def test_under_ci_a_skipped_real_server_test_fails(tmp_path) -> None:
    done = run_pytest(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 skipped" in done.stdout  # the unit-test skip stays a skip
    assert "skipped under CI=true, where this test must run: no weed binary" in done.stdout


def test_make_test_prints_skip_reasons() -> None:
    makefile = (REPO / "Makefile").read_text()
    test_recipes = [line for line in makefile.splitlines() if "-m pytest" in line]
    assert test_recipes and all(" -rs" in line for line in test_recipes)
