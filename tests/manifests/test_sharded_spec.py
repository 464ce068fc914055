"""The compiled cluster spec scores the pool as a ParallelFor over shards with a merge step
(read from the golden default spec, which test_golden keeps equal to a fresh compile)."""

from __future__ import annotations

from pathlib import Path

import yaml

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "default.yaml"


def _spec() -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(GOLDEN.read_text())
    return spec, platform


def test_each_round_fans_score_out_over_the_shard_plan_and_merges() -> None:
    spec, _ = _spec()
    tasks = spec["root"]["dag"]["tasks"]
    loops = sorted(name for name in tasks if name.startswith("for-loop"))
    merges = sorted(name for name in tasks if name.startswith("merge-scores"))
    assert len(loops) == len(merges) == 3  # default: 4 rounds, scored after the first 3
    for loop, merge in zip(loops, merges, strict=True):
        iterator = tasks[loop]["parameterIterator"]
        assert iterator["items"] == {"inputParameter": "pipelinechannel--shard-plan-shards"}
        body = spec["components"][tasks[loop]["componentRef"]["name"]]["dag"]["tasks"]
        [(name, task)] = body.items()
        assert name.startswith("score")
        score = task["inputs"]
        assert score["parameters"]["shard"] == {"componentInputParameter": iterator["itemInput"]}
        # prepared images and region maps travel as URIs (ranged reads), not input artifacts
        assert {"prepared", "regions"} <= set(score["parameters"])
        assert set(score["artifacts"]) == {"model", "labels"}
        gathered = tasks[merge]["inputs"]["artifacts"]["shards"]["taskOutputArtifact"]
        assert gathered["producerTask"] == loop
    merge_inputs = spec["components"]["comp-merge-scores"]["inputDefinitions"]["artifacts"]
    assert merge_inputs["shards"]["isArtifactList"] is True
    selects = sorted(name for name in tasks if name.startswith("select-queries"))
    producers = [tasks[s]["inputs"]["artifacts"]["scores"]["taskOutputArtifact"]["producerTask"]
                 for s in selects]  # fmt: skip
    assert producers == merges


def test_shard_score_tasks_keep_the_gpu_profile() -> None:
    spec, platform = _spec()
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-score"]["container"]["resources"]["accelerator"]["resourceCount"] == "1"
    assert "accelerator" not in executors["exec-merge-scores"]["container"].get("resources", {})
    assert "accelerator" not in executors["exec-shard-plan"]["container"].get("resources", {})
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert "tolerations" in kubernetes["exec-score"] or "emptyDirMounts" in kubernetes["exec-score"]
