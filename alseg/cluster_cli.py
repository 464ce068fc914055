"""``alseg compile | submit | schedule | status | retry``: the cluster commands (torch-free).

``compile`` writes the IR of an experiment (CONFIG) or a sweep (GRID). ``submit`` and ``schedule``
compile the same way, then call ``alseg.kfp_client``. Run names may hold ``{name}`` (the config's
or sweep's name) and ``{date}`` (UTC time of the submit, ``YYYYmmdd-HHMMSS``); ``schedule``
defaults to ``{name}-[[ScheduledTime]]``, which the KFP backend fills in per scheduled run, so
every night gets its own KFP run name and new MLflow parent runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alseg.cluster import ClusterProfile
from alseg.config import ExperimentConfig, pipeline_config_json

SCHEDULED_RUN_NAME = "{name}-[[ScheduledTime]]"


@dataclass
class Package:
    """A compiled pipeline and what a run of it needs."""

    path: Path
    name: str
    profile: ClusterProfile
    sweep: bool
    arguments: dict[str, Any] = field(default_factory=dict)


def is_sweep(path: str) -> bool:
    data = yaml.safe_load(Path(path).read_text()) if Path(path).is_file() else None
    return isinstance(data, dict) and "grid" in data


def _profile(cfg: ExperimentConfig, caching: str | None) -> ClusterProfile:
    profile = cfg.cluster
    return profile.model_copy(update={"caching": caching}) if caching else profile


def compile_package(
    source: str,
    overrides: dict[str, Any],
    output: str | None = None,
    caching: str | None = None,
    config_loader: Callable[[], ExperimentConfig] | None = None,
) -> Package:
    """Compile CONFIG or GRID with its cluster profile (``caching`` overrides the profile's)."""
    from alseg.runner import compile_pipeline, write_spec
    from pipelines.platform import configure_task

    if is_sweep(source):
        from alseg.sweeps import load_sweep
        from pipelines.sweep import build_sweep

        sweep = load_sweep(source, overrides)
        profile = _profile(sweep.configs[0], caching)
        pipeline = build_sweep(sweep.name, sweep.configs, sweep.parallelism,
                               configure_task(profile))  # fmt: skip
        path = write_spec(pipeline, output or f"build/{sweep.name}.yaml")
        return Package(path, sweep.name, profile, True)
    cfg = config_loader() if config_loader else None
    if cfg is None:
        from alseg.config import load_config

        cfg = load_config(source, overrides)
    profile = _profile(cfg, caching)
    path = compile_pipeline(cfg, output or f"build/{cfg.name}.yaml", configure_task(profile))
    return Package(path, cfg.name, profile, False, {"config": pipeline_config_json(cfg)})


def expand_run_name(template: str, name: str, now: datetime.datetime | None = None) -> str:
    """``{date}`` -> UTC ``YYYYmmdd-HHMMSS``; ``{name}`` -> ``name``. ``[[...]]`` macros stay."""
    now = now or datetime.datetime.now(datetime.UTC)
    return template.replace("{date}", now.strftime("%Y%m%d-%H%M%S")).replace("{name}", name)


def _run_parameters(package: Package, template: str, experiment: str, display: str) -> dict:
    """Pipeline arguments: a sweep keeps ``{name}`` for each experiment to fill in."""
    run_name = template if package.sweep else display
    return {**package.arguments, "run_name": run_name, "experiment": experiment}


def _warn_tag_images(caching: str) -> None:
    import components

    tags = [ref for ref in (components.CPU_IMAGE, components.GPU_IMAGE)
            if components.image_kind(ref) == "tag"]  # fmt: skip
    if tags and caching != "none":
        print(
            f"alseg: note: images by tag ({', '.join(tags)}): a re-pushed tag keeps cache keys; "
            "set ALSEG_CPU_IMAGE/ALSEG_GPU_IMAGE to repo@sha256:... digests",
            file=sys.stderr,
        )


def _target(args: argparse.Namespace, profile: ClusterProfile) -> dict[str, Any]:
    return {
        "token": args.token,
        "namespace": args.namespace or profile.namespace,
        "service_account": args.service_account or profile.service_account,
    }


def cmd_compile(args: argparse.Namespace, overrides: dict, loader: Callable) -> int:
    package = compile_package(args.config, overrides, args.output, args.caching,
                              None if is_sweep(args.config) else loader)  # fmt: skip
    print(package.path)
    return 0


def cmd_submit(args: argparse.Namespace, overrides: dict, loader: Callable) -> int:
    from alseg import kfp_client

    package = compile_package(args.config, overrides, None, args.caching,
                              None if is_sweep(args.config) else loader)  # fmt: skip
    template = args.run_name or "{name}"
    display = expand_run_name(template, package.name)
    _warn_tag_images(package.profile.caching)
    # --no-cache: every task re-runs; otherwise each task keeps its compiled caching policy
    run_id = kfp_client.submit(
        package.path, args.host, display, args.experiment,
        pipeline_root=args.pipeline_root or package.profile.pipeline_root,
        arguments=_run_parameters(package, expand_run_name(template, "{name}"), args.experiment,
                                  display),
        enable_caching=False if args.no_cache else None, **_target(args, package.profile),
    )  # fmt: skip
    print(f"{run_id}\n{kfp_client.run_url(args.host, run_id)}")
    return 0


def cmd_schedule(args: argparse.Namespace, overrides: dict, loader: Callable) -> int:
    from alseg import kfp_client

    package = compile_package(args.config, overrides, None, args.caching or "data",
                              None if is_sweep(args.config) else loader)  # fmt: skip
    template = args.run_name or SCHEDULED_RUN_NAME
    _warn_tag_images(package.profile.caching)
    job_id = kfp_client.schedule(
        package.path, args.host, args.name or f"{package.name}-scheduled", args.cron,
        args.experiment, pipeline_root=args.pipeline_root or package.profile.pipeline_root,
        arguments=_run_parameters(package, template, args.experiment,
                                  template.replace("{name}", package.name)),
        max_concurrency=args.max_concurrency, enable_caching=False if args.no_cache else None,
        **_target(args, package.profile),
    )  # fmt: skip
    print(job_id)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from alseg import kfp_client

    kfp_client.retry(args.run_id, args.host, token=args.token, namespace=args.namespace)
    print(f"retrying the failed tasks of {args.run_id}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from alseg import kfp_client

    state = kfp_client.status(args.run_id, args.host, token=args.token, namespace=args.namespace)
    if args.json:
        print(json.dumps(state, indent=1, default=str))
        return 0
    print(f"{state['name']} ({state['run_id']}): {state['state']}")
    for task in state.get("tasks", []):
        error = f" - {task['error']}" if task.get("error") else ""
        print(f"  {task['name']}: {task['state']}{error}")
    return 0


def _with_server(p: argparse.ArgumentParser, runs: bool = True) -> argparse.ArgumentParser:
    endpoint = os.environ.get("KF_PIPELINES_ENDPOINT")
    p.add_argument("--host", default=endpoint, required=endpoint is None,
                   help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT)")  # fmt: skip
    p.add_argument(
        "--token",
        help="bearer token (default: $KFP_TOKEN, else the ServiceAccount token file at "
        "$KF_PIPELINES_SA_TOKEN_PATH or /var/run/secrets/kubeflow/pipelines/token)",
    )
    p.add_argument("--namespace", help="KFP namespace; required by multi-user Kubeflow "
                   "(default: the config's cluster.namespace)")  # fmt: skip
    if runs:
        p.add_argument(
            "--service-account",
            help="ServiceAccount of the run's pods (default: cluster.service_account)",
        )
        p.add_argument("--experiment", default="alseg", help="KFP and MLflow experiment")
        p.add_argument("--pipeline-root", help="default: the config's cluster.pipeline_root")
        p.add_argument("--no-cache", action="store_true", help="re-run every task")
    return p


def _with_caching(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--caching", choices=("all", "data", "none"),
                   help=f"stages that may hit the cache (default: {default}); data = prepare "
                   "and regions only")  # fmt: skip


def add_commands(sub: Any, with_config: Callable, wrap: Callable) -> None:
    """Register compile, submit, retry, status, schedule; ``wrap(fn)`` adapts a command."""
    comp = with_config(
        sub.add_parser(
            "compile", help="write the pipeline IR YAML of an experiment (CONFIG) or sweep (GRID)"
        )
    )
    comp.add_argument("-o", "--output", help="output YAML (default build/NAME.yaml)")
    _with_caching(comp, "the config's cluster.caching")
    comp.set_defaults(func=wrap(cmd_compile))

    submit = _with_server(
        with_config(
            sub.add_parser(
                "submit", help="submit an experiment (CONFIG) or a sweep (GRID) to a KFP cluster"
            )
        )
    )
    submit.add_argument(
        "--run-name",
        help="KFP run / MLflow name; {name} and {date} (UTC) "
        "are filled in (default: the config's or sweep's name)",
    )
    _with_caching(submit, "the config's cluster.caching")
    submit.set_defaults(func=wrap(cmd_submit))

    retry = _with_server(
        sub.add_parser("retry", help="re-run only the failed tasks of a KFP run"), runs=False
    )
    retry.add_argument("run_id")
    retry.set_defaults(func=cmd_retry)

    status = _with_server(
        sub.add_parser("status", help="state of a KFP run and its tasks"), runs=False
    )
    status.add_argument("run_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    schedule = _with_server(
        with_config(
            sub.add_parser(
                "schedule", help="recurring run of an experiment (CONFIG) or a sweep (GRID) on KFP"
            )
        )
    )
    schedule.add_argument("--cron", required=True, help="5-field (or 6-field) cron expression")
    schedule.add_argument("--name", help="recurring run name (default: NAME-scheduled)")
    schedule.add_argument("--run-name", help=f"per-run name (default: {SCHEDULED_RUN_NAME})")
    schedule.add_argument("--max-concurrency", type=int, default=1)
    _with_caching(schedule, "data")
    schedule.set_defaults(func=wrap(cmd_schedule))
