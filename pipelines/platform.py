"""A cluster profile applied to the compiled tasks: the ``configure_task(task, stage)`` hook.

``pipelines.al_experiment.build_pipeline`` and ``pipelines.sweep.build_sweep`` call it for every
task; the profile's settings (``alseg.cluster.ClusterProfile``) compile into the IR's container
resources, retry policies, caching options and the second YAML document (platform spec).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator

from kfp import kubernetes
from kfp.dsl import PipelineTask, pipeline_task

from alseg.cluster import CACHING, STAGES, ClusterProfile


def configure_task(profile: ClusterProfile) -> Callable[[PipelineTask, str], None]:
    """The ``configure_task(task, stage)`` hook for ``build_pipeline`` / ``compile_pipeline``.

    Every stage: CPU/memory requests and limits, ``set_retry``, S3 Secret and settings ConfigMap
    as env, image pull secrets. GPU stages also: accelerator type + count, node selector,
    tolerations and a ``Memory`` emptyDir ``dshm`` at ``/dev/shm`` (PyTorch DataLoader workers).
    """

    def apply(task: PipelineTask, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        with _caller_names_from_frames():
            _apply(task, stage)

    def _apply(task: PipelineTask, stage: str) -> None:
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


class _FrameNames:
    """``inspect`` for kfp's ``pipeline_task`` module with a cheap ``stack()``.

    kfp 2.x's platform setters (``set_cpu_request`` ...) call ``inspect.stack()`` only to name
    the setter in an error message; ``inspect.stack()`` looks up every frame's source file,
    which costs about 0.1 s per call in a process that has imported torch: more than half of a
    preset's compile time. This ``stack()`` gives the same ``[1][3]`` (the caller's function
    name) from the frame chain alone; everything else is ``inspect``'s.
    """

    def __getattr__(self, name: str) -> object:
        return getattr(inspect, name)

    @staticmethod
    def stack() -> list[tuple]:
        # frame 1: the function calling stack(); frame 2: its caller
        return [(None, None, None, sys._getframe(1).f_code.co_name),
                (None, None, None, sys._getframe(2).f_code.co_name)]  # fmt: skip


@contextlib.contextmanager
def _caller_names_from_frames() -> Iterator[None]:
    """While configuring tasks, kfp's ``pipeline_task`` module sees ``_FrameNames``."""
    saved = pipeline_task.__dict__.get("inspect")
    pipeline_task.inspect = _FrameNames()
    try:
        yield
    finally:
        pipeline_task.inspect = saved
