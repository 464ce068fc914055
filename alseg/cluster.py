"""Running the AL pipeline on a Kubeflow Pipelines cluster: the platform profile (pure config).

``ClusterProfile`` (pydantic, unknown keys rejected) describes the Kubernetes side: resources per
stage, GPU type and count on the GPU stages, node selector, tolerations, a memory-backed
``/dev/shm``, retries, the S3 credentials Secret, the settings ConfigMap, the pipeline root, the
run's namespace and ServiceAccount, and the caching policy. Stage names, the default GPU stages
and the ``data`` caching policy come from the stage registry (``alseg.stages.registry``).

This module imports neither kfp nor the KFP client: ``pipelines.platform.configure_task(profile)``
applies a profile to the compiled tasks, ``alseg.kfp_client`` talks to the KFP API server.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alseg.stages.registry import DATA_STAGES, GPU_STAGES, STAGE_NAMES

STAGES = STAGE_NAMES
# Caching policies: which stages may take a cached result. "data" keeps the dataset preparation
# and superpixels (and the config split) and re-runs training, scoring, selection and reports.
CACHING = {
    "all": STAGES,
    "data": DATA_STAGES,
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
    gpu_stages: tuple[str, ...] = GPU_STAGES
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
