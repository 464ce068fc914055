"""Shared end-to-end fixtures: one uninterrupted tiny run per session, the reference that the
determinism, kill-and-resume and other end-to-end tests compare against."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alseg.config import load_config
from alseg.runner import run_local

TINY = Path(__file__).parents[2] / "configs" / "tiny.yaml"


def run_queries(runs_dir: Path) -> list[dict]:
    """Every query row under ``runs_dir/pipeline_root``, ordered by (round, rank)."""
    files = sorted((runs_dir / "pipeline_root").rglob("queries.parquet"), key=lambda p: str(p))
    return sorted(
        (row for f in files for row in pq.read_table(f).to_pylist()),
        key=lambda r: (r["round"], r["rank"]),
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """(runs folder, report) of configs/tiny.yaml run once as 'tiny' with caching on."""
    runs = tmp_path_factory.mktemp("runs")
    report = run_local(load_config(TINY), run_name="tiny", runs_dir=runs, caching=True)
    return runs, report
