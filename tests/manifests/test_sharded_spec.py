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
    loops = sorted(name for name in tasks if name.startswith("for-loop"))
    merges = sorted(name for name in tasks if name.startswith("merge-scores"))
    assert len(loops) == len(merges) == 3  # default: 4 rounds, scored after the first 3
    for loop, merge in zip(loops, merges, strict=True):
        iterator = tasks[loop]["parameterIterator"]
        assert iterator["items"] == {"inputParameter": "pipelinechannel--shard-plan-Output"}
        # besides its items the loop takes only artifacts (the round's model and labels)
        assert set(tasks[loop]["inputs"]["parameters"]) == {"pipelinechannel--shard-plan-Output"}
        assert len(tasks[loop]["inputs"]["artifacts"]) == 2
        [(name, score)] = components[tasks[loop]["componentRef"]["name"]]["dag"]["tasks"].items()
        assert name.startswith("score")
        parameters = score["inputs"]["parameters"]
        item = iterator["itemInput"]
        assert parameters["shard"] == {"componentInputParameter": item}
        # params and the prepared / regions URIs come from the item (ranged reads, no download)
        for name, key in (("params", "score"), ("prepared", "prepared"), ("regions", "regions")):
            assert parameters[name]["componentInputParameter"] == item, name
            selector = parameters[name]["parameterExpressionSelector"]
            assert selector == f'parseJson(string_value)["{key}"]'
        assert set(score["inputs"]["artifacts"]) == {"model", "labels"}
        gathered = tasks[merge]["inputs"]["artifacts"]["shards"]["taskOutputArtifact"]
        assert gathered["producerTask"] == loop
    assert components["comp-merge-scores"]["inputDefinitions"]["artifacts"]["shards"][
        "isArtifactList"]  # fmt: skip
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


def test_mulactseg_fans_pseudo_labels_out_over_the_same_shards() -> None:
    spec, _ = yaml.safe_load_all((GOLDEN.parent / "mulactseg.yaml").read_text())
    tasks, components = spec["root"]["dag"]["tasks"], spec["components"]
    merges = sorted(name for name in tasks if name.startswith("merge-pseudo"))
    assert len(merges) == 4  # a stage 2 every round
    for merge in merges:
        loop = tasks[merge]["inputs"]["artifacts"]["shards"]["taskOutputArtifact"]["producerTask"]
        iterator = tasks[loop]["parameterIterator"]
        assert iterator["items"] == {"inputParameter": "pipelinechannel--shard-plan-Output"}
        [(name, task)] = components[tasks[loop]["componentRef"]["name"]]["dag"]["tasks"].items()
        assert name.startswith("pseudo")
        parameters = task["inputs"]["parameters"]
        assert parameters["params"]["parameterExpressionSelector"] == (
            'parseJson(string_value)["pseudo"]')  # fmt: skip
        assert set(task["inputs"]["artifacts"]) == {"model", "labels"}
        consumers = [t["taskInfo"]["name"] for t in tasks.values()
                     if t["inputs"].get("artifacts", {}).get("labels", {}).get(
                         "taskOutputArtifact", {}).get("producerTask") == merge]  # fmt: skip
        assert len(consumers) == 1 and consumers[0].endswith("train stage 2")
