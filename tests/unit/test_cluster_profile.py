"""ClusterProfile -> compiled KFP IR: GPU only where it belongs, retries, secrets, resources.

A 3-round pipeline has 21 container tasks (rounds r = 0, 1, 2; score/select/oracle after rounds
0 and 1; each round's score is a ParallelFor of score tasks over the shards, then a merge):
  CPU: configure, prepare, regions, shard_plan, init, oracle x3 (round 0 + after rounds 0, 1),
       merge x2, select x2, report                                                      = 13
  GPU: train x3, evaluate x3, score x2 (one per round, fanned out over shards)            = 8
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from alseg.cluster import STAGES, ClusterProfile, StageResources
from alseg.config import load_config
from alseg.runner import compile_pipeline
from pipelines.platform import configure_task

REPO = Path(__file__).parents[2]
GPU_STAGES = {"train", "evaluate", "score"}

CUSTOM = ClusterProfile(
    node_selector={"nvidia.com/gpu.product": "NVIDIA-H100"},
    tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    shm_size="8Gi",
    overrides={"train": {"memory_limit": "64Gi", "gpu": 2}, "regions": {"cpu_limit": "4"}},
    image_pull_secrets=["ghcr-pull"],
    retries=3,
)


def compile_docs(tmp_path: Path, profile: ClusterProfile) -> tuple[dict, dict]:
    cfg = load_config(REPO / "configs" / "default.yaml", {"budget.rounds": 3})
    path = compile_pipeline(cfg, tmp_path / "p.yaml", configure_task(profile))
    pipeline_spec, platform_spec = yaml.safe_load_all(path.read_text())
    return pipeline_spec, platform_spec


def container_tasks(spec: dict, tasks: dict | None = None) -> list[tuple[str, dict, str]]:
    """(task name, task, executor label) of every container task, nested DAGs (a round's
    score-shards pipeline and its ParallelFor) walked into."""
    rows = []
    for name, task in (spec["root"]["dag"]["tasks"] if tasks is None else tasks).items():
        component = spec["components"][task["componentRef"]["name"]]
        if "dag" in component:
            rows += container_tasks(spec, component["dag"]["tasks"])
        else:
            rows.append((name, task, component["executorLabel"]))
    return rows


def tasks_by_executor(spec: dict) -> list[tuple[str, str, str]]:
    """(task name, stage, executor label) for every container task; the stage is the display
    name's end (``round 1: train`` -> ``train``)."""
    return [(name, task["taskInfo"]["name"].split(": ")[-1], label)
            for name, task, label in container_tasks(spec)]  # fmt: skip


@pytest.fixture(scope="module")
def default_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return compile_docs(tmp_path_factory.mktemp("default"), ClusterProfile())


@pytest.fixture(scope="module")
def custom_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return compile_docs(tmp_path_factory.mktemp("custom"), CUSTOM)


def test_stage_counts_of_three_rounds(default_docs: tuple[dict, dict]) -> None:
    spec, _ = default_docs
    stages = [stage for _, stage, _ in tasks_by_executor(spec)]
    assert set(stages) <= set(STAGES)
    assert sum(s in GPU_STAGES for s in stages) == 8  # 3 train + 3 evaluate + 2 score
    assert sum(s not in GPU_STAGES for s in stages) == 13  # see the module docstring


def test_accelerator_only_on_gpu_stages(default_docs: tuple[dict, dict]) -> None:
    spec, _ = default_docs
    executors = spec["deploymentSpec"]["executors"]
    for name, stage, label in tasks_by_executor(spec):
        resources = executors[label]["container"]["resources"]
        if stage in GPU_STAGES:
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu", name
            assert resources["accelerator"]["resourceCount"] == "1", name
        else:
            assert "accelerator" not in resources, name


def test_cpu_and_memory_on_every_executor(default_docs: tuple[dict, dict]) -> None:
    spec, _ = default_docs
    executors = spec["deploymentSpec"]["executors"]
    for name, stage, label in tasks_by_executor(spec):
        res = executors[label]["container"]["resources"]
        expected = ("4", "8", "16Gi", "32Gi") if stage in GPU_STAGES else ("1", "2", "2Gi", "4Gi")
        got = tuple(
            res[k]
            for k in (
                "resourceCpuRequest",
                "resourceCpuLimit",
                "resourceMemoryRequest",
                "resourceMemoryLimit",
            )
        )
        assert got == expected, name


def test_retry_policy_on_every_task(default_docs: tuple[dict, dict]) -> None:
    spec, _ = default_docs
    tasks = container_tasks(spec)
    assert len(tasks) == 21
    for name, task, _ in tasks:
        assert task["retryPolicy"] == {
            "maxRetryCount": 2,
            "backoffDuration": "30s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "3600s",
        }, name


def test_secret_and_config_map_env_on_every_executor(default_docs: tuple[dict, dict]) -> None:
    spec, platform = default_docs
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == set(spec["deploymentSpec"]["executors"])  # every executor
    for label, cfg in k8s.items():
        (secret,) = cfg["secretAsEnv"]
        assert secret["secretName"] == "alseg-s3", label
        assert {(m["secretKey"], m["envVar"]) for m in secret["keyToEnv"]} == {
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        }
        (config_map,) = cfg["configMapAsEnv"]
        assert config_map["configMapName"] == "alseg-settings", label
        assert [m["envVar"] for m in config_map["keyToEnv"]] == [
            "MLFLOW_TRACKING_URI",
            "AWS_ENDPOINT_URL",
            "AWS_DEFAULT_REGION",
        ]
        assert "imagePullSecret" not in cfg  # none configured by default


def test_shm_only_on_gpu_executors_by_default(default_docs: tuple[dict, dict]) -> None:
    spec, platform = default_docs
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, stage, label in tasks_by_executor(spec):
        if stage in GPU_STAGES:
            assert k8s[label]["emptyDirMounts"] == [
                {
                    "volumeName": "dshm",
                    "mountPath": "/dev/shm",
                    "medium": "Memory",
                    "sizeLimit": "2Gi",
                }
            ], name
        else:
            assert "emptyDirMounts" not in k8s[label], name
        assert "nodeSelector" not in k8s[label] and "tolerations" not in k8s[label], name


def test_custom_profile_scheduling_only_on_gpu(custom_docs: tuple[dict, dict]) -> None:
    spec, platform = custom_docs
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, stage, label in tasks_by_executor(spec):
        cfg = k8s[label]
        assert [s["secretName"] for s in cfg["imagePullSecret"]] == ["ghcr-pull"], name
        if stage in GPU_STAGES:
            assert cfg["nodeSelector"] == {"labels": {"nvidia.com/gpu.product": "NVIDIA-H100"}}
            assert cfg["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ]
            assert cfg["emptyDirMounts"][0]["sizeLimit"] == "8Gi"
        else:
            assert not {"nodeSelector", "tolerations", "emptyDirMounts"} & set(cfg), name


def test_overrides_merge_field_by_field(custom_docs: tuple[dict, dict]) -> None:
    spec, _ = custom_docs
    executors = spec["deploymentSpec"]["executors"]
    for _, stage, label in tasks_by_executor(spec):
        res = executors[label]["container"]["resources"]
        if stage == "train":  # override: memory_limit 64Gi, gpu 2; cpu stays the GPU default
            assert res["resourceMemoryLimit"] == "64Gi" and res["resourceCpuLimit"] == "8"
            assert res["accelerator"]["resourceCount"] == "2"
        elif stage == "evaluate":  # no override: GPU defaults
            assert res["resourceMemoryLimit"] == "32Gi"
            assert res["accelerator"]["resourceCount"] == "1"
        elif stage == "regions":  # override: cpu_limit 4; memory stays the CPU default
            assert res["resourceCpuLimit"] == "4" and res["resourceMemoryLimit"] == "4Gi"
    retries = {t["retryPolicy"]["maxRetryCount"] for _, t, _ in container_tasks(spec)}
    assert retries == {3}


def test_resources_for_merges_set_fields_only() -> None:
    res = CUSTOM.resources_for("train")
    assert res == StageResources(
        cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="64Gi", gpu=2
    )
    assert CUSTOM.resources_for("select") == CUSTOM.cpu_resources


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"gpu_stage": ["train"]}, "gpu_stage"),  # typo of gpu_stages
        ({"cpu_resources": {"cpu": "2"}}, "cpu"),  # unknown nested key
        ({"tolerations": [{"key": "a", "operatr": "Exists"}]}, "operatr"),
        ({"overrides": {"trian": {"cpu_limit": "2"}}}, "trian"),  # unknown stage
        ({"gpu_stages": ["train"], "overrides": {"score": {"gpu": 1}}}, "gpu_stages"),
        ({"overrides": {"train": {"gpu": 0}}}, "gpu_stages"),
        ({"gpu_resources": {"memory_limit": "1.5Gi", "gpu": 1}}, "1536Mi"),
        ({"cpu_resources": {"cpu_request": "two"}}, "500m"),
        ({"backoff_duration": "5m"}, "30s"),
    ],
)
def test_invalid_profiles_rejected(data: dict, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        ClusterProfile.model_validate(data)


def test_profile_round_trips_through_yaml() -> None:
    text = yaml.safe_dump(CUSTOM.model_dump(mode="json"))
    assert ClusterProfile.model_validate(yaml.safe_load(text)) == CUSTOM


def test_fewer_gpu_stages_move_score_to_cpu_defaults() -> None:
    profile = ClusterProfile(gpu_stages=("train", "evaluate"))
    assert profile.resources_for("score") == profile.cpu_resources  # gpu=0, 1 CPU, 2Gi


def test_zero_retries_and_no_secret(tmp_path: Path) -> None:
    spec, platform = compile_docs(tmp_path, ClusterProfile(retries=0, secret_name=None))
    assert all("retryPolicy" not in t for t in spec["root"]["dag"]["tasks"].values())
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all("secretAsEnv" not in cfg and "configMapAsEnv" in cfg for cfg in k8s.values())


@pytest.mark.parametrize(
    "caching, cached",
    [
        (
            "all",
            set(STAGES) & GPU_STAGES
            | {
                "configure",
                "prepare",
                "regions",
                "shard_plan",
                "init",
                "oracle",
                "merge",
                "select",
                "report",
            },
        ),  # fmt: skip
        ("data", {"configure", "prepare", "regions"}),
        ("none", set()),
    ],
)
def test_caching_policy_per_stage(tmp_path: Path, caching: str, cached: set[str]) -> None:
    spec, _ = compile_docs(tmp_path, ClusterProfile(caching=caching))
    by_stage: dict[str, set[bool]] = {}
    for _, task, _ in container_tasks(spec):
        stage = task["taskInfo"]["name"].split(": ")[-1]
        enabled = task.get("cachingOptions", {}).get("enableCache", False)
        by_stage.setdefault(stage, set()).add(enabled)
    assert {stage for stage, flags in by_stage.items() if flags == {True}} == cached
    assert all(len(flags) == 1 for flags in by_stage.values())


def test_unknown_caching_policy_is_rejected() -> None:
    with pytest.raises(ValidationError, match="caching"):
        ClusterProfile(caching="nightly")


def test_config_and_training_import_neither_kfp_nor_its_client() -> None:
    """The profile is pure config: alseg.config (which holds it) and alseg.train load no kfp."""
    code = (
        "import sys, json, alseg.config, alseg.cluster, alseg.train; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'kfp' or m.startswith('kfp.') "
        "or m in ('alseg.kfp_client', 'pipelines.platform'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True)  # fmt: skip
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_platform_setters_still_name_themselves_with_the_cheap_stack() -> None:
    import inspect
    import types

    from kfp.dsl import PipelineTask, pipeline_task

    from pipelines.platform import _caller_names_from_frames

    # a pipeline used as a component, at compile time
    graph_task = types.SimpleNamespace(container_spec=None, state=pipeline_task.TaskState.FUTURE)
    graph_task._ensure_container_spec_exists = types.MethodType(
        PipelineTask._ensure_container_spec_exists, graph_task
    )
    with _caller_names_from_frames(), pytest.raises(ValueError, match="^set_cpu_request can"):
        PipelineTask.set_cpu_request(graph_task, "1")
    assert pipeline_task.inspect is inspect
