"""Local task environment: concurrent tasks share the cores instead of oversubscribing them."""

from pathlib import Path

import pytest

from alseg import runner


def test_parallel_tasks_split_the_cores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner, "available_cpus", lambda: 5)
    assert "OMP_NUM_THREADS" not in runner.local_environment(tmp_path)  # one task: torch decides
    assert runner.local_environment(tmp_path, parallel_tasks=2)["OMP_NUM_THREADS"] == "2"
    monkeypatch.setattr(runner, "available_cpus", lambda: 1)
    assert runner.local_environment(tmp_path, parallel_tasks=2)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's setting wins
    assert "OMP_NUM_THREADS" not in runner.local_environment(tmp_path, parallel_tasks=2)
