"""The sweep pipeline under kfp.local: a ParallelFor over two policies on the tiny preset."""

import re
from pathlib import Path

import pytest

from alseg.config import ConfigError
from alseg.runner import run_sweep
from alseg.sweeps import load_sweep

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def test_grid_expands_to_named_validated_configs(tmp_path: Path) -> None:
    sweep = load_sweep(REPO / "configs" / "sweeps" / "policies.yaml")
    assert len(sweep.configs) == 8 and sweep.parallelism == 1
    assert sweep.configs[0].name == "policies-random-0"
    assert {c.acquisition.policy for c in sweep.configs} == {
        "random", "entropy", "margin", "least_confidence"}  # fmt: skip
    bad = tmp_path / "bad.yaml"
    tiny = REPO / "configs" / "tiny.yaml"
    bad.write_text(f"base: {tiny}\ngrid: {{acquisition.policy: [entropy, dice]}}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml .*field 'acquisition\.policy'"):
        load_sweep(bad)


def test_sweep_shares_round_zero_and_reports_every_experiment(tmp_path: Path) -> None:
    sweep = load_sweep(REPO / "configs" / "sweeps" / "tiny.yaml")
    report = run_sweep(sweep.name, sweep.configs, sweep.parallelism, runs_dir=tmp_path)
    by_name = {r["name"]: r for r in report["experiments"]}
    assert set(by_name) == {"tiny-sweep-random", "tiny-sweep-entropy"}
    random, entropy = by_name["tiny-sweep-random"], by_name["tiny-sweep-entropy"]
    # same seed: identical round-0 labels and model, hence identical round-0 metrics
    assert random["rounds"][0]["miou"] == entropy["rounds"][0]["miou"]
    assert random["rounds"][1]["clicks"] == entropy["rounds"][1]["clicks"]
    log = (tmp_path / "logs" / "tiny-sweep.log").read_text()
    assert len(re.findall(r"\[alseg\] round 0 · train · started", log)) == 1  # trained once
    assert len(re.findall(r"\[alseg\] round 1 · train · started", log)) == 2
    assert len(re.findall(r"\[alseg\] round 0 · score · started", log)) == 2
    page = Path(report["html"]).read_text()  # runs/reports/tiny-sweep/sweep.html
    assert Path(report["html"]) == tmp_path / "reports" / "tiny-sweep" / "sweep.html"
    assert page.count('<div class="experiment">') == 2 and "tiny-sweep-entropy" in page
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("alseg").experiment_id],
        "tags.`alseg.run_name` = 'tiny-sweep-random' and tags.`alseg.round` = 'parent'",
    )
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "sweep-tiny-sweep")}
    assert logged == {"sweep-tiny-sweep/sweep.html", "sweep-tiny-sweep/curve.png"}
