"""Running the AL pipeline on a Kubeflow Pipelines cluster: platform profile and a thin client.

Two parts, both outside the domain core:

- ``ClusterProfile`` (pydantic, unknown keys rejected) describes the Kubernetes side: resources per
  stage, GPU type and count on the GPU stages, node selector, tolerations, a memory-backed
  ``/dev/shm``, retries, the S3 credentials Secret, the settings ConfigMap and the pipeline root.
  ``configure_task(profile)`` turns it into the ``configure_task(task, stage)`` hook that
  ``pipelines.al_experiment.build_pipeline`` calls for every task; the settings compile into the
  IR's container resources, retry policies and the second YAML document (platform spec).
- ``submit`` / ``retry`` / ``status`` / ``schedule`` wrap ``kfp.Client`` (KFP v2beta1 REST API).
  Every server or connection failure becomes a ``ClusterError`` naming the host and HTTP status.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    import kfp
    from kfp.dsl import PipelineTask

STAGES = (
    "configure", "prepare", "regions", "init", "train", "evaluate", "score", "select", "oracle",
    "pseudo", "report",
)  # fmt: skip
TOKEN_ENV = "KFP_TOKEN"
REQUEST_TIMEOUT_S = 30

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

    return apply


# --------------------------------------------------------------------------- KFP client layer


class ClusterError(RuntimeError):
    """The KFP API server failed or could not be reached; the message names host and status."""


def _check_host(host: str) -> str:
    if not re.match(r"https?://[^/\s]+", host or ""):
        raise ValueError(
            f"expected the KFP API URL with its scheme, e.g. http://localhost:8888, got {host!r}"
        )
    return host.rstrip("/")


@contextlib.contextmanager
def _server_errors(host: str, action: str) -> Iterator[None]:
    """Turn kfp_server_api / urllib3 failures into ``ClusterError`` (host, status, message)."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    try:
        yield
    except ApiException as err:
        body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body
        detail = f": {body.strip()[:300]}" if body else ""
        raise ClusterError(
            f"{action} failed: KFP server {host} answered HTTP {err.status} {err.reason}{detail}"
        ) from None
    except TimeoutError as err:  # kfp.Client's own healthz loop gave up (an OSError subclass)
        raise ClusterError(f"{action} failed: KFP server {host}: {err}") from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise ClusterError(
            f"{action} failed: cannot reach KFP server {host} ({type(err).__name__}); "
            "check the URL and the port-forward"
        ) from None


def _client(host: str, token: str | None = None, namespace: str | None = None) -> kfp.Client:
    """A ``kfp.Client`` for ``host``; bearer token from ``token`` or env ``KFP_TOKEN``.

    A single healthz request runs first so that a bad host or token fails at once (the kfp
    client itself retries healthz 5 times, 5 s apart).
    """
    import kfp
    import kfp_server_api

    host = _check_host(host)
    token = token or os.environ.get(TOKEN_ENV) or None
    config = kfp_server_api.Configuration(host=host)
    if token:
        config.api_key["authorization"] = token
        config.api_key_prefix["authorization"] = "Bearer"
    with _server_errors(host, "health check"):
        kfp_server_api.HealthzServiceApi(
            kfp_server_api.ApiClient(config)
        ).healthz_service_get_healthz(_request_timeout=REQUEST_TIMEOUT_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            kwargs: dict[str, Any] = {"host": host, "existing_token": token}
            if namespace:
                kwargs["namespace"] = namespace
            return kfp.Client(**kwargs)


def _quiet() -> contextlib.AbstractContextManager:
    """kfp.Client prints 'Experiment details: <link>' lines; keep library calls silent."""
    return contextlib.redirect_stdout(io.StringIO())


def run_url(host: str, run_id: str) -> str:
    """The KFP UI page of a run (same host as the API when reached through the UI's proxy)."""
    return f"{_check_host(host)}/#/runs/details/{run_id}"


def _check_package(package_path: str | Path) -> str:
    path = Path(package_path)
    if not path.is_file():
        raise ValueError(
            f"pipeline package {path} not found; create it with `alseg compile` (or "
            "alseg.runner.compile_pipeline with a cluster profile) first"
        )
    return str(path)


def submit(
    package_path: str | Path,
    host: str,
    run_name: str,
    experiment: str = "alseg",
    pipeline_root: str | None = None,
    arguments: dict[str, Any] | None = None,
    enable_caching: bool = True,
    token: str | None = None,
    namespace: str | None = None,
) -> str:
    """Start a run of a compiled package (spec posted inline, no upload); return the run id.

    The experiment is created if missing. ``enable_caching`` overrides the compiled setting on
    every task; ``pipeline_root`` (e.g. ``profile.pipeline_root``) goes into the runtime config.
    """
    package = _check_package(package_path)
    host = _check_host(host)
    client = _client(host, token, namespace)
    with _server_errors(host, f"submitting run '{run_name}'"), _quiet():
        result = client.create_run_from_pipeline_package(
            package,
            arguments=arguments or {},
            run_name=run_name,
            experiment_name=experiment,
            namespace=namespace,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
        )
    return result.run_id


def retry(run_id: str, host: str, token: str | None = None, namespace: str | None = None) -> None:
    """Re-run the failed/terminated tasks of a run (``POST /apis/v2beta1/runs/{id}:retry``).

    The public ``kfp.Client`` has no retry method; this calls the generated
    ``RunServiceApi.run_service_retry_run`` it holds as ``client._run_api``.
    """
    host = _check_host(host)
    client = _client(host, token, namespace)
    with _server_errors(host, f"retrying run {run_id}"):
        client._run_api.run_service_retry_run(run_id, _request_timeout=REQUEST_TIMEOUT_S)


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _error_message(error: Any) -> str | None:
    """The message of a ``GoogleRpcStatus`` (None when there is no error)."""
    return (getattr(error, "message", None) or None) if error is not None else None


def status(
    run_id: str, host: str, token: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """State of a run: ``{run_id, name, state, created_at, finished_at, error, tasks}``.

    ``state`` is a KFP runtime state (PENDING, RUNNING, SUCCEEDED, FAILED, ...); ``tasks`` lists
    ``{name, state, started_at, finished_at, error}`` per task when the server reports them.
    """
    host = _check_host(host)
    client = _client(host, token, namespace)
    with _server_errors(host, f"reading run {run_id}"):
        run = client._run_api.run_service_get_run(run_id, _request_timeout=REQUEST_TIMEOUT_S)
    details = getattr(run, "run_details", None)
    tasks = [
        {
            "name": task.display_name,
            "state": task.state,
            "started_at": _iso(task.start_time),
            "finished_at": _iso(task.end_time),
            "error": _error_message(task.error),
        }
        for task in (getattr(details, "task_details", None) or [])
    ]
    return {
        "run_id": run.run_id,
        "name": run.display_name,
        "state": run.state,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "error": _error_message(run.error),
        "tasks": tasks,
    }


def six_field_cron(expression: str) -> str:
    """KFP's cron (robfig/cron, seconds first): a 5-field expression gets ``"0 "`` prepended.

    ``"0 3 * * 1"`` -> ``"0 0 3 * * 1"`` (03:00:00 every Monday); 6 fields pass unchanged, as do
    descriptors such as ``@daily`` or ``@every 6h``.
    """
    text = " ".join((expression or "").split())
    if text.startswith("@"):
        return text
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        return "0 " + text
    if len(fields) == 6:
        return text
    raise ValueError(
        f"expected a cron expression of 5 fields (min hour day month weekday) or 6 (seconds "
        f"first), got {len(fields)} in {expression!r}; e.g. '0 3 * * *' for 03:00 daily"
    )


def schedule(
    package_path: str | Path,
    host: str,
    job_name: str,
    cron: str,
    experiment: str = "alseg",
    pipeline_root: str | None = None,
    arguments: dict[str, Any] | None = None,
    max_concurrency: int = 1,
    enable_caching: bool = True,
    token: str | None = None,
    namespace: str | None = None,
) -> str:
    """Create an enabled recurring run on a cron schedule; return the recurring run id.

    ``cron`` may have 5 or 6 fields (see ``six_field_cron``); missed intervals are not backfilled
    (``no_catchup``).
    """
    package = _check_package(package_path)
    cron6 = six_field_cron(cron)
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    host = _check_host(host)
    client = _client(host, token, namespace)
    with _server_errors(host, f"scheduling '{job_name}'"), _quiet():
        experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
        recurring = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=job_name,
            cron_expression=cron6,
            max_concurrency=max_concurrency,
            no_catchup=True,
            params=arguments or {},
            pipeline_package_path=package,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
        )
    return recurring.recurring_run_id
