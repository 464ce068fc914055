"""A scheduled sweep, run twice as the KFP scheduler runs it, under kfp.local.

``alseg schedule GRID`` compiles the sweep with the ``data`` caching policy and sends the run
name ``{name}-[[ScheduledTime]]``; the KFP backend replaces the macro per run (the test passes
the replaced value, as the backend would). Two nights must give two run names per experiment,
two MLflow parent runs each, and re-run everything but the data preparation and superpixels.
"""

import io
import re
from pathlib import Path

import pytest

from alseg import tracking
from alseg.cluster import ClusterProfile
from alseg.cluster_cli import SCHEDULED_RUN_NAME
from alseg.runner import execute_locally, local_environment, patched_environ
from alseg.sweeps import load_sweep
from pipelines.platform import configure_task
from pipelines.sweep import build_sweep

REPO = Path(__file__).parents[2]
NIGHTS = ("20261203020000", "20261204020000")  # [[ScheduledTime]] as the backend formats it
pytestmark = pytest.mark.slow


def parents(experiment: str) -> list[str]:
    client = tracking._client()  # the store MLFLOW_TRACKING_URI names
    runs = client.search_runs(
        [tracking.experiment_id(experiment)],
        filter_string=f"tags.`{tracking.ROUND_TAG}` = 'parent'",
    )
    return sorted(run.data.tags[tracking.RUN_TAG] for run in runs)


def test_a_scheduled_sweep_run_twice_gets_new_names_and_parents(tmp_path: Path) -> None:
    grid = tmp_path / "nightly.yaml"  # one experiment, one round: the smallest scheduled sweep
    grid.write_text(f"name: nightly\nbase: {REPO / 'configs' / 'tiny.yaml'}\n"
                    "set: {budget.rounds: 1}\ngrid: {seed: [0]}\n")  # fmt: skip
    sweep = load_sweep(grid)
    hook = configure_task(ClusterProfile(caching="data"))
    pipeline = build_sweep(sweep.name, sweep.configs, 1, hook)
    names = sorted(c.name for c in sweep.configs)
    logs = {}
    with patched_environ(local_environment(tmp_path)):
        for night in NIGHTS:
            run_name = SCHEDULED_RUN_NAME.replace("[[ScheduledTime]]", night)
            arguments = {"experiment": "nightly", "run_name": run_name}
            execute_locally(pipeline, arguments, f"night-{night}", tmp_path, True, io.StringIO(),
                            f"night {night}")  # fmt: skip
            logs[night] = (tmp_path / "logs" / f"night-{night}.log").read_text()
        assert parents("nightly") == sorted(f"{n}-{night}" for n in names for night in NIGHTS)
    second = logs[NIGHTS[1]]
    # data preparation and superpixels come from the first night's cache ...
    assert not re.search(r"\[alseg\] prepare · started", second)
    assert not re.search(r"\[alseg\] regions · started", second)
    # ... everything else runs again
    assert len(re.findall(r"\[alseg\] round 0 · train · started", second)) == 1
    assert len(re.findall(r"\[alseg\] round 0 · evaluate · started", second)) == 1
    assert len(re.findall(r"\[alseg\] prepare · started", logs[NIGHTS[0]])) == 1
