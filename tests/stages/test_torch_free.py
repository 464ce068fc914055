"""The CPU-only stages (init, select, oracle; prepare, regions and report import too) run without
importing torch: one subprocess runs them through the stage registry on a tiny pool, every
policy's select included, and reports ``sys.modules``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from alseg.acquisition.policies import policy_names
from alseg.config import AcquisitionConfig, DataConfig, RegionConfig
from alseg.stages import prepare, regions
from alseg.stages.common import write_json
from alseg.tables import read_table, scores_table, write_table

CHILD = """
import json, sys
from alseg.stages import registry
import alseg.stages.prepare, alseg.stages.regions, alseg.stages.report, alseg.config
tmp, base, policies = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
f = {"prepared": f"{tmp}/prepared", "regions": f"{tmp}/regions", "init": f"{tmp}/init",
     "scores": f"{tmp}/scores"}
registry.call("init", base, f, f"{tmp}/init")
registry.call("oracle", base, {**f, "queries": f["init"]}, f"{tmp}/labels", 0)
for name in policies:
    params = {**base, "acquisition": {**base["acquisition"], "policy": name}}
    registry.call("select", params, {**f, "labels": f"{tmp}/labels"}, f"{tmp}/q_{name}", 1)
registry.call("oracle", base, {**f, "queries": f"{tmp}/q_entropy",
              "previous_labels": f"{tmp}/labels"}, f"{tmp}/labels1", 1)
print("TORCH=" + str("torch" in sys.modules))
"""


def synthetic_scores(regions_dir: Path, out: Path, num_classes: int) -> None:
    """A scores folder as the score stage writes it (every statistic a policy may read)."""
    table = read_table(regions_dir / "regions.parquet", "regions")
    rng = np.random.default_rng(0)
    n = len(table)
    vector = rng.random((n, num_classes), dtype=np.float32)
    out.mkdir()
    write_table(
        scores_table(table["image_index"].to_numpy(), table["region_id"].to_numpy(),
                     rng.random(n, dtype=np.float32), rng.integers(0, num_classes, n), vector),
        out / "scores.parquet", "scores",
    )  # fmt: skip
    prior = (vector.mean(0) / vector.mean(0).sum()).tolist()
    write_json(out / "meta.json", {"num_classes": num_classes, "class_prior": prior})


def test_cpu_stages_do_not_import_torch(folder_dataset: Path, tmp_path: Path) -> None:
    data = DataConfig(dataset="camvid", root=str(folder_dataset), image_size=(16, 24), workers=1)
    prepare.run(data, tmp_path / "prepared")
    regions.run(RegionConfig(type="grid", size=4), tmp_path / "prepared", tmp_path / "regions", 1)
    synthetic_scores(tmp_path / "regions", tmp_path / "scores", num_classes=4)
    base = {
        "seed": 0,
        "label": {"type": "dominant"},
        "acquisition": AcquisitionConfig().model_dump(),
        "budget": {"initial_clicks": 10, "clicks_per_round": 6, "overshoot": False},
    }
    names = policy_names()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(base), json.dumps(names)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    assert "TORCH=False" in child.stdout
    for name in names:  # every policy's select ran and spent the round's 6 clicks
        queries = read_table(tmp_path / f"q_{name}" / "queries.parquet", "queries")
        assert int(np.sum(queries["cost"].to_numpy())) == 6, name
    labels = read_table(tmp_path / "labels1" / "labels.parquet", "labels")
    assert len(labels) == 10 + 6
