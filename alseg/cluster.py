"""Running the AL pipeline on a Kubeflow Pipelines cluster: the platform profile.

``ClusterProfile`` (pydantic, unknown keys rejected) describes the Kubernetes side: resources per
stage, GPU type and count on the GPU stages, node selector, tolerations, a memory-backed
``/dev/shm``, retries, the S3 credentials Secret, the settings ConfigMap, the pipeline root, the
run's namespace and ServiceAccount, and the caching policy. ``configure_task(profile)`` turns it
into the ``configure_task(task, stage)`` hook that ``pipelines.al_experiment.build_pipeline`` calls
for every task; the settings compile into the IR's container resources, retry policies, caching
options and the second YAML document (platform spec). The KFP client is ``alseg.kfp_client``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from kfp.dsl import PipelineTask

STAGES = (
    "configure", "prepare", "regions", "init", "train", "evaluate", "score", "select", "oracle",
    "pseudo", "report",
)  # fmt: skip
# Caching policies: which stages may take a cached result. "data" keeps the dataset preparation
# and superpixels (and the config split) and re-runs training, scoring, selection and reports.
CACHING = {
    "all": STAGES,
    "data": ("configure", "prepare", "regions"),
    "none": (),
}

# The same patterns kfp 2.17 checks in PipelineTask.set_cpu_*/set_memory_* (checked here, at
# profile load, so a bad value names its field instead of failing at compile time).
_CPU = re.compile(r"([0-9]*[.])?[0-9]+m?$")
_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")


def _check_cpu(value: str | None) -> str | None:
    if value is not None and not _CPU.match(value):
        raise ValueError(
            f'expected a CPU quantity like "2", "0.5" or "500m", got {value!r}; '
            "write whole or fractional cores, or millicores with an m suffix"
        )
    return value


def _check_memory(value: str | None) -> str | None:
    if value is not None and not _MEMORY.match(value):
        raise ValueError(
            f'expected an integer memory quantity like "8Gi" or "512Mi", got {value!r}; '
            "use a whole number with one of E, Ei, P, Pi, T, Ti, G, Gi, M, Mi, K, Ki "
            '(write "1536Mi" instead of "1.5Gi")'
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageResources(_Strict):
    """Container resources of one stage; ``None`` leaves the value to the cluster's defaults."""

    cpu_request: str | None = Field(None, description='cores, e.g. "2" or "500m"')
    cpu_limit: str | None = None
    memory_request: str | None = Field(None, description='e.g. "8Gi" (integer + unit)')
    memory_limit: str | None = None
    gpu: Annotated[int, Field(ge=0)] = 0

    _cpu_quantity = field_validator("cpu_request", "cpu_limit")(_check_cpu)
    _memory_quantity = field_validator("memory_request", "memory_limit")(_check_memory)


class Toleration(_Strict):
    """A Kubernetes toleration (``operator: Exists`` matches any value of ``key``)."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] | None = None
    value: str | None = None
    effect: Literal["NoExecute", "NoSchedule", "PreferNoSchedule"] | None = None
    toleration_seconds: int | None = None


class ClusterProfile(_Strict):
    """Kubernetes settings for every task of the AL pipeline.

    Resources of a stage = ``gpu_resources`` (GPU stages) or ``cpu_resources`` (others), with the
    fields set in ``overrides[stage]`` replacing the defaults field by field.
    """

    accelerator_type: str = "nvidia.com/gpu"
    gpu_stages: tuple[str, ...] = ("train", "evaluate", "score", "pseudo")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="GPU stages only, e.g. {'nvidia.com/gpu.present': 'true'}"
    )
    tolerations: list[Toleration] = Field(default_factory=list, description="GPU stages only")
    shm_size: str = Field("2Gi", description="memory-backed emptyDir at /dev/shm (GPU stages)")
    cpu_resources: StageResources = StageResources(
        cpu_request="1", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi"
    )
    gpu_resources: StageResources = StageResources(
        cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="32Gi", gpu=1
    )
    overrides: dict[str, StageResources] = Field(default_factory=dict)
    retries: Annotated[int, Field(ge=0)] = 2
    backoff_duration: str = "30s"
    backoff_factor: Annotated[float, Field(ge=1.0)] = 2.0
    backoff_max_duration: str = "3600s"
    secret_name: str | None = Field("alseg-s3", description="S3 credentials; None = no secret")
    secret_keys: tuple[str, ...] = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    config_map_name: str | None = Field("alseg-settings", description="None = no ConfigMap")
    config_map_keys: tuple[str, ...] = (
        "MLFLOW_TRACKING_URI",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
    )
    pipeline_root: str = "s3://alseg-pipelines/runs"
    image_pull_secrets: list[str] = Field(default_factory=list)
    caching: Literal["all", "data", "none"] = Field(
        "all", description="stages that may hit the cache: all, data (prepare, regions), none"
    )
    namespace: str | None = Field(None, description="KFP namespace (multi-user: the Profile's)")
    service_account: str | None = Field(None, description="ServiceAccount the run's pods use")

    _shm_quantity = field_validator("shm_size")(_check_memory)

    @field_validator("backoff_duration", "backoff_max_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]+s", value):
            raise ValueError(f'expected a duration in seconds like "30s", got {value!r}')
        return value

    @model_validator(mode="after")
    def _stages_consistent(self) -> ClusterProfile:
        unknown = sorted((set(self.gpu_stages) | set(self.overrides)) - set(STAGES))
        if unknown:
            raise ValueError(
                f"unknown stage(s) {unknown} in gpu_stages/overrides; expected names from {STAGES}"
            )
        for stage in STAGES:
            gpus = self.resources_for(stage).gpu
            if stage in self.gpu_stages and gpus < 1:
                raise ValueError(
                    f"stage '{stage}' is in gpu_stages but gets gpu={gpus}; "
                    "set gpu >= 1 or remove it from gpu_stages"
                )
            if stage not in self.gpu_stages and gpus > 0:
                raise ValueError(
                    f"stage '{stage}' asks for gpu={gpus} but is not in gpu_stages "
                    f"{self.gpu_stages}; add it to gpu_stages or set gpu: 0"
                )
        return self

    def resources_for(self, stage: str) -> StageResources:
        """Default resources of the stage's kind, with the override's set fields on top."""
        base = self.gpu_resources if stage in self.gpu_stages else self.cpu_resources
        override = self.overrides.get(stage)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_unset=True))


def configure_task(profile: ClusterProfile) -> Callable[[PipelineTask, str], None]:
    """The ``configure_task(task, stage)`` hook for ``build_pipeline`` / ``compile_pipeline``.

    Every stage: CPU/memory requests and limits, ``set_retry``, S3 Secret and settings ConfigMap
    as env, image pull secrets. GPU stages also: accelerator type + count, node selector,
    tolerations and a ``Memory`` emptyDir ``dshm`` at ``/dev/shm`` (PyTorch DataLoader workers).
    """
    from kfp import kubernetes

    def apply(task: PipelineTask, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        res = profile.resources_for(stage)
        if res.cpu_request is not None:
            task.set_cpu_request(res.cpu_request)
        if res.cpu_limit is not None:
            task.set_cpu_limit(res.cpu_limit)
        if res.memory_request is not None:
            task.set_memory_request(res.memory_request)
        if res.memory_limit is not None:
            task.set_memory_limit(res.memory_limit)
        if stage in profile.gpu_stages:
            task.set_accelerator_type(profile.accelerator_type)
            task.set_accelerator_limit(res.gpu)
            for key, value in profile.node_selector.items():
                kubernetes.add_node_selector(task, label_key=key, label_value=value)
            for tol in profile.tolerations:
                kubernetes.add_toleration(
                    task,
                    key=tol.key,
                    operator=tol.operator,
                    value=tol.value,
                    effect=tol.effect,
                    toleration_seconds=tol.toleration_seconds,
                )
            kubernetes.empty_dir_mount(
                task,
                volume_name="dshm",
                mount_path="/dev/shm",
                medium="Memory",
                size_limit=profile.shm_size,
            )
        if profile.retries > 0:
            task.set_retry(
                num_retries=profile.retries,
                backoff_duration=profile.backoff_duration,
                backoff_factor=profile.backoff_factor,
                backoff_max_duration=profile.backoff_max_duration,
            )
        if profile.secret_name:
            kubernetes.use_secret_as_env(
                task,
                secret_name=profile.secret_name,
                secret_key_to_env={key: key for key in profile.secret_keys},
            )
        if profile.config_map_name:
            kubernetes.use_config_map_as_env(
                task,
                config_map_name=profile.config_map_name,
                config_map_key_to_env={key: key for key in profile.config_map_keys},
            )
        if profile.image_pull_secrets:
            kubernetes.set_image_pull_secrets(task, list(profile.image_pull_secrets))
        task.set_caching_options(stage in CACHING[profile.caching])

    return apply


# The KFP client moved to alseg.kfp_client (torch-free); these names stay importable from here.
from alseg.kfp_client import (  # noqa: E402, F401
    ClusterError,
    retry,
    run_url,
    schedule,
    six_field_cron,
    status,
    submit,
)
