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
    tasks, components = spec["root"]["dag"]["tasks"], spec["components"]
    rounds = sorted(name for name in tasks if name.startswith("score-shards"))
    assert len(rounds) == 3  # default: 4 rounds, scored after the first 3
    for name in rounds:  # a nested pipeline per round: ParallelFor of score tasks -> merge
        task = tasks[name]
        plan = task["inputs"]["parameters"]["shards"]["taskOutputParameter"]
        assert plan == {"outputParameterKey": "Output", "producerTask": "shard-plan"}
        # prepared images and region maps travel as URIs (ranged reads), not input artifacts
        assert set(task["inputs"]["artifacts"]) == {"model", "labels"}
        dag = components[task["componentRef"]["name"]]["dag"]
        [loop] = [t for t in dag["tasks"] if t.startswith("for-loop")]
        iterator = dag["tasks"][loop]["parameterIterator"]
        assert iterator["items"] == {"inputParameter": "pipelinechannel--shards"}
        [(score_name, score)] = components[dag["tasks"][loop]["componentRef"]["name"]]["dag"][
            "tasks"].items()  # fmt: skip
        assert score_name.startswith("score")
        item = {"componentInputParameter": iterator["itemInput"]}
        assert score["inputs"]["parameters"]["shard"] == item
        assert {"prepared", "regions"} <= set(score["inputs"]["parameters"])
        [merge] = [t for t in dag["tasks"] if t.startswith("merge-scores")]
        gathered = dag["tasks"][merge]["inputs"]["artifacts"]["shards"]["taskOutputArtifact"]
        assert gathered["producerTask"] == loop
        selector = dag["outputs"]["artifacts"]["Output"]["artifactSelectors"][0]
        assert selector == {"outputArtifactKey": "scores", "producerSubtask": merge}
    assert components["comp-merge-scores"]["inputDefinitions"]["artifacts"]["shards"][
        "isArtifactList"]  # fmt: skip
    selects = sorted(name for name in tasks if name.startswith("select-queries"))
    producers = [tasks[s]["inputs"]["artifacts"]["scores"]["taskOutputArtifact"]["producerTask"]
                 for s in selects]  # fmt: skip
    assert producers == rounds


def test_shard_score_tasks_keep_the_gpu_profile() -> None:
    spec, platform = _spec()
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-score"]["container"]["resources"]["accelerator"]["resourceCount"] == "1"
    assert "accelerator" not in executors["exec-merge-scores"]["container"].get("resources", {})
    assert "accelerator" not in executors["exec-shard-plan"]["container"].get("resources", {})
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert "tolerations" in kubernetes["exec-score"] or "emptyDirMounts" in kubernetes["exec-score"]
