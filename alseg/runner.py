"""Run the AL pipeline on this machine with ``kfp.local`` (the embedded default).

Layout of a runs folder (default ``runs/``), shared by every run so that caching spans runs:
``pipeline_root/`` (task artifacts), ``kfp_cache/`` (cache entries), ``workspace/``, ``tmp/``,
``mlflow.db`` + ``mlartifacts/`` (MLflow on SQLite unless ``MLFLOW_TRACKING_URI`` is set) and
``logs/<run_name>.log`` (the full task logs; the terminal shows one line per step).
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypedDict, Unpack

import yaml

from alseg import prefork, runs, storage, tracking
from alseg.config import ExperimentConfig, pipeline_config_json
from alseg.console import StepBoard
from alseg.cpus import available_cpus
from alseg.reporting.publish import EXPERIMENT_FILES, SWEEP_FILES, publish
from alseg.secrets import redact


class PipelineFailed(RuntimeError):
    """A task of the local pipeline failed; the message names it and the log file."""


def compile_pipeline(cfg: ExperimentConfig, output: str | Path, configure_task=None) -> Path:
    """Write the pipeline IR YAML for ``cfg``."""
    from pipelines.al_experiment import build_pipeline

    return write_spec(build_pipeline(cfg, configure_task), output)


def write_spec(pipeline_func, output: str | Path) -> Path:
    from kfp import compiler

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func, str(output))
    return output


def display_names(spec_path: Path) -> dict[str, str]:
    """KFP task name -> display name (``round 1: train``) over every DAG of the compiled spec."""
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    dags = [spec["root"]["dag"]] + [
        c["dag"] for c in spec.get("components", {}).values() if "dag" in c
    ]
    return {name: task["taskInfo"]["name"] for dag in dags for name, task in dag["tasks"].items()}


class ProgressTee(io.TextIOBase):
    """Everything to the log file; one condensed line per step event to the terminal, and the
    running steps with their time and progress (alseg.console.StepBoard). Thread-safe: kfp.local
    prints the output of parallel loop iterations (score or pseudo shards) from their threads,
    and a text file written from two threads at once can interleave one character's bytes."""

    EVENTS = (
        (re.compile(r"\[alseg\] (.*)"), "{0}"),
        (re.compile(r"Task '?([\w-]+)'? cache hit"), "{name} · cached"),
        (re.compile(r"Task '?([\w-]+)'? finished with status .*FAILURE"), "{name} · FAILED"),
        (re.compile(r"Task '?([\w-]+)'? failed \(attempt"), "{name} · failed, retrying"),
    )

    def __init__(self, log: TextIO, terminal: TextIO, names: dict[str, str]) -> None:
        self.log, self.terminal, self.names, self.pending = log, terminal, names, ""
        self.last_failure = ""
        self.board = StepBoard(terminal)  # running steps, their time and progress
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        text = redact(text)  # no credential reaches the log or the terminal
        with self.lock:
            self.log.write(text)
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                self._echo(re.sub(r"\x1b\[[0-9;]*m", "", line))
        return len(text)

    def _echo(self, line: str) -> None:
        for pattern, template in self.EVENTS:
            match = pattern.search(line)
            if match:
                if "FAILED:" in line:
                    self.last_failure = line.split("[alseg] ", 1)[-1].strip()
                name = self.names.get(match.group(1), match.group(1))
                self.board.event(template.format(match.group(1), name=name))
                return

    def flush(self) -> None:
        with self.lock:
            self.log.flush()


LOCAL_PARALLEL_TASKS = 2  # kfp.local runs at most 2 ParallelFor iterations at a time


def local_environment(runs_dir: Path, parallel_tasks: int = 1) -> dict[str, str]:
    """Environment for local task subprocesses: MLflow on SQLite (unless MLFLOW_TRACKING_URI is
    set), temp files inside runs/, the venv's python first on PATH. With ``parallel_tasks`` > 1
    tasks running at once share the cores: each gets cores // parallel_tasks torch threads
    (OMP_NUM_THREADS, unless set), since oversubscribed intra-op threads spin at their barriers
    (measured on 2 cores under load: 0.06 training iterations/s with 2 threads, 0.52 with 1)."""
    env = {
        "TMPDIR": str((runs_dir / "tmp").resolve()),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
        "GIT_PYTHON_REFRESH": "quiet",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update({k: v for k, v in runs.HTTP_LIMITS.items() if k not in os.environ})
    if parallel_tasks > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, available_cpus() // parallel_tasks))
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{(runs_dir / 'mlflow.db').resolve()}"
        env["ALSEG_MLFLOW_ARTIFACT_ROOT"] = (runs_dir / "mlartifacts").resolve().as_uri()
    return env


@contextlib.contextmanager
def restored_process_globals() -> Iterator[None]:
    """Put back ``builtins.print`` and the root logger's handlers and level on exit. kfp.local's
    task threads swap both without a lock (``logging_utils.indented_print`` and
    ``local_logger_context``: save, patch, restore), so two ParallelFor iterations that
    interleave leave a print that indents every line by 4 spaces (8 after a second race) and a
    stray handler behind, for the rest of the process."""
    root = logging.getLogger()
    saved_print, handlers, level = builtins.print, root.handlers[:], root.level
    try:
        yield
    finally:
        builtins.print = saved_print
        root.handlers[:] = handlers
        root.setLevel(level)


@contextlib.contextmanager
def root_log_handler(stream: TextIO):
    """Route kfp.local's own log records (e.g. cache hits, retries) to ``stream``."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextlib.contextmanager
def patched_environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def task_servers(tracking_uri: str | None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The warm interpreters of ``alseg.prefork`` and each component function's server, from
    the stage registry: one per image kind (cpu, gpu) for the round stages, one (``once``) for
    the stages that run once per run; each imports its stages' entry modules, then the gpu and
    once servers MLflow (and its SQL store for a ``sqlite:`` URI) when tracking: evaluate and
    pseudo log every round, report at the end. The cpu one stays lean (select, oracle)."""
    from alseg.stages.registry import STAGES

    mlflow = ["mlflow"] if tracking_uri else []
    if tracking_uri and tracking_uri.startswith("sqlite:"):
        mlflow.append("mlflow.store.tracking.sqlalchemy_store")
    kinds = {s.component: s.image if s.rounds else "once" for s in STAGES.values()}
    servers: dict[str, list[str]] = {"cpu": [], "gpu": [], "once": []}
    for stage in STAGES.values():
        module = stage.entry.partition(":")[0]
        if module not in servers[kinds[stage.component]]:
            servers[kinds[stage.component]].append(module)
    return {**servers, "gpu": servers["gpu"] + mlflow, "once": servers["once"] + mlflow}, kinds


@contextlib.contextmanager
def preforked_tasks() -> Iterator[None]:
    """Start ``alseg.prefork``'s task servers with this environment (``local_environment``)
    and point kfp.local's task commands at its shim; stop them after the block. A task that
    comes while its server still imports waits for the module being imported, then forks."""
    from kfp.local import subprocess_task_handler as handler

    original = getattr(handler, "replace_python_executable", None)
    if not prefork.enabled() or original is None:
        yield
        return
    servers, kinds = task_servers(os.environ.get("MLFLOW_TRACKING_URI"))
    folder = tempfile.mkdtemp(prefix="alseg-prefork-", dir="/tmp")  # socket paths <= 107 bytes
    shim = prefork.write_shim(f"{folder}/python", sys.executable, folder, kinds)
    server = subprocess.Popen(
        [sys.executable, "-m", "alseg.prefork", folder, json.dumps(servers)],
        env={**os.environ, "_KFP_RUNTIME": "true"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    handler.replace_python_executable = lambda command, _python: original(command, shim)
    try:
        yield
    finally:
        handler.replace_python_executable = original
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def execute_locally(
    pipeline_func,
    arguments: dict,
    log_name: str,
    runs_dir: Path,
    caching: bool,
    terminal: TextIO,
    banner: str,
) -> str:
    """Run a compiled-able pipeline under kfp.local with progress lines; return its output."""
    from kfp import local

    for sub in ("pipeline_root", "kfp_cache", "workspace", "tmp", "logs", "specs"):
        (runs_dir / sub).mkdir(parents=True, exist_ok=True)
    spec = write_spec(pipeline_func, runs_dir / "specs" / f"{log_name}.yaml")
    log_path = runs_dir / "logs" / f"{log_name}.log"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(runs_dir / "pipeline_root"),
        workspace_root=str(runs_dir / "workspace"),
        enable_caching=caching,
        cache_root=str(runs_dir / "kfp_cache"),
        raise_on_error=True,
    )
    warnings.filterwarnings("ignore", message=".*no effect in the current local runner")
    quiet_mlflow()
    print(f"alseg: {banner}; log: {log_path}", file=terminal, flush=True)
    with open(log_path, "a") as log:
        tee = ProgressTee(log, terminal, display_names(spec))
        try:
            with (restored_process_globals(), contextlib.redirect_stdout(tee),
                  root_log_handler(tee), tee.board):  # fmt: skip
                return pipeline_func(**arguments).output
        except RuntimeError as err:
            # a task killed without a message (SIGKILL, OOM) leaves only kfp's own line
            reason = tee.last_failure or re.sub(r"\x1b\[[0-9;]*m", "", str(err))
            raise PipelineFailed(f"{reason} (log: {log_path})") from None


def _open_parent_run(cfg: ExperimentConfig, run_name: str, experiment: str,
                     terminal: TextIO) -> runs.Claim:  # fmt: skip
    """Claim the run (resume, or a new parent run under the first free name; alseg.runs)."""
    claim = runs.claim_run(
        run_name, experiment, config=json.loads(pipeline_config_json(cfg)),
        tags=tracking.config_tags(cfg.model_dump(mode="json")),
    )  # fmt: skip
    if claim.name != run_name:
        print(f"alseg: run '{run_name}' exists with another config; this run is "
              f"'{claim.name}'", file=terminal, flush=True)  # fmt: skip
    elif claim.resumed:
        print(f"alseg: resuming run '{claim.name}' (same config)", file=terminal, flush=True)
    return claim


def quiet_mlflow() -> None:
    """Keep MLflow's INFO lines (store creation, migrations) off the terminal: MLflow sets its
    logger to INFO when imported, so import it first."""
    import mlflow  # noqa: F401

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _prepare_runs_dir(runs_dir: Path, experiment: str) -> None:
    """Fail early with one line when the runs folder is not writable or MLflow is unreachable;
    create the MLflow store and experiment once under a lock (runs may start concurrently)."""
    quiet_mlflow()
    storage.ensure_writable(runs_dir)
    storage.remove_stale_temps(runs_dir / "pipeline_root")
    runs.check_reachable()
    with runs.file_lock(runs_dir / ".mlflow.lock"):
        tracking.experiment_id(experiment)


class LocalOptions(TypedDict, total=False):
    """Where and how a local pipeline runs (``run_local`` and ``run_sweep`` keywords)."""

    runs_dir: str | Path  # default "runs"
    experiment: str  # MLflow experiment, default "alseg"
    caching: bool  # default True
    terminal: TextIO | None  # default stdout


@dataclass(frozen=True)
class Launch:
    """The pipeline to run for the claimed runs, its arguments, its log/spec/report name and
    the terminal's banner."""

    pipeline: Callable
    arguments: dict
    name: str
    banner: str


def run_local(
    cfg: ExperimentConfig, run_name: str | None = None, **options: Unpack[LocalOptions]
) -> dict:
    """Compile and run the pipeline under kfp.local; return the report (AL curve, AuALC, Gini)."""
    from pipelines.al_experiment import build_pipeline

    def launch(claims: list[runs.Claim], experiment: str) -> Launch:
        name = claims[0].name
        arguments = {
            "config": pipeline_config_json(cfg),
            "run_name": name,
            "experiment": experiment,
        }
        banner = f"running '{name}' ({cfg.budget.rounds} rounds)"
        return Launch(build_pipeline(cfg), arguments, name, banner)

    return _run_pipeline([(cfg, run_name or cfg.name)], launch, EXPERIMENT_FILES, 1, options)


def run_sweep(
    name: str,
    configs: list[ExperimentConfig],
    parallelism: int = 1,
    **options: Unpack[LocalOptions],
) -> dict:
    """Run the sweep pipeline (ParallelFor over ``configs``) locally; return the sweep report."""
    from pipelines.sweep import build_sweep

    def launch(claims: list[runs.Claim], experiment: str) -> Launch:
        named = [
            c.model_copy(update={"name": k.name}) for c, k in zip(configs, claims, strict=True)
        ]
        banner = f"sweep '{name}' ({len(configs)} experiments)"
        return Launch(
            build_sweep(name, named, parallelism), {"experiment": experiment}, name, banner
        )

    parallel_tasks = min(parallelism, len(configs), LOCAL_PARALLEL_TASKS)
    named = [(cfg, cfg.name) for cfg in configs]
    return _run_pipeline(named, launch, SWEEP_FILES, parallel_tasks, options)


def _run_pipeline(
    requested: list[tuple[ExperimentConfig, str]],
    launch: Callable[[list[runs.Claim], str], Launch],
    files: tuple[str, ...],
    parallel_tasks: int,
    options: LocalOptions,
) -> dict:
    """Claim a parent run per (config, name), run ``launch(claims, experiment)`` under kfp.local
    (tasks forked from warm interpreters: ``preforked_tasks``), log its spec on each run and
    publish the report; ``wall_seconds`` covers all of it."""
    start = time.perf_counter()
    runs_dir = Path(options.get("runs_dir", "runs")).resolve()
    experiment = options.get("experiment", "alseg")
    terminal = options.get("terminal") or sys.stdout
    with patched_environ(local_environment(runs_dir, parallel_tasks)):
        _prepare_runs_dir(runs_dir, experiment)
        claims = [_open_parent_run(cfg, name, experiment, terminal) for cfg, name in requested]
        job = launch(claims, experiment)
        # the task servers start with the pipeline: importing while MLflow starts above would
        # slow that (measured: 12.1 s outside kfp.local instead of 4.2 on 2 busy cores)
        with runs.run_status([claim.run_id for claim in claims]), preforked_tasks():
            output = execute_locally(
                job.pipeline, job.arguments, job.name, runs_dir, options.get("caching", True),
                terminal, job.banner,
            )  # fmt: skip
        for claim in claims:
            tracking.log_pipeline_spec(
                claim.name, experiment, runs_dir / "specs" / f"{job.name}.yaml"
            )
    report = json.loads(output)
    report["html"] = publish(report, runs_dir / "reports" / job.name, files)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    return report
