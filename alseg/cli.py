"""``alseg`` command line: run, compile, step.

Errors in input (config, dataset files, tables) print one line naming the file or field and exit
with status 2; a failed pipeline task exits with status 1 and names the log.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from alseg.config import (
    ConfigError,
    ExperimentConfig,
    load_config,
    stage_params,
)


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """``["train.iterations=50"]`` -> {"train.iterations": 50} (values parsed as YAML)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or "" in key.split("."):
            raise ConfigError(f"--set {pair}: expected KEY=VALUE with a dotted KEY (a.b=1)")
        try:
            parsed[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            problem = str(err).splitlines()[0]
            raise ConfigError(f"--set {pair}: value is not valid YAML ({problem})") from None
    return parsed


def _config(args: argparse.Namespace) -> ExperimentConfig:
    overrides = _overrides(args.set or [])
    options = {pair.partition("=")[0]: f"--set {pair}" for pair in args.set or []}
    if getattr(args, "data_root", None):
        overrides["data.root"] = args.data_root
        options["data.root"] = f"--data-root {args.data_root}"
    return load_config(args.config, overrides, options)


def print_report(report: dict) -> None:
    from alseg.stages.report import curve_table

    print(f"\n{curve_table(report['rounds'])}\n")
    print(
        f"AuALC {report['auALC']:.2f} · Gini {report['gini']:.3f} · "
        f"final mIoU {report['final_miou']:.2f} · wall {report.get('wall_seconds', '?')} s"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from alseg.runner import run_local

    cfg = _config(args)
    report = run_local(
        cfg,
        run_name=args.run_name,
        runs_dir=args.runs_dir,
        experiment=args.experiment,
        caching=not args.no_cache,
    )
    print_report(report)
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    db = f"sqlite:///{Path(args.runs_dir).resolve()}/mlflow.db"
    print(f"MLflow: {uri}" if uri else f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri {db}")
    print(f"Report: {report['html']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Table, CSVs and AL-curve PNG of experiment runs read back from MLflow."""
    from mlflow.tracking import MlflowClient

    from alseg.compare import CompareError, compare, load, table_text, tracking_uri

    try:
        client = MlflowClient(tracking_uri(args.runs_dir))
        summaries = load(client, args.experiment, args.runs, args.filter)
    except CompareError as err:
        print(f"alseg: error: {err}", file=sys.stderr)
        return 2
    paths = compare(summaries, args.out or Path(args.runs_dir) / "compare", args.x)
    print(table_text(summaries))
    print("\n".join(f"{name}: {path}" for name, path in paths.items()))
    return 0


def _cluster_command(fn):
    """Adapt an ``alseg.cluster_cli`` command: overrides and a config loader; bad input -> 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args, _overrides(args.set or []), lambda: _config(args))
        except ConfigError:
            raise
        except ValueError as err:  # bad host URL, cron, image reference
            raise ConfigError(str(err)) from None

    return run


def cmd_sweep(args: argparse.Namespace) -> int:
    from alseg.runner import run_sweep
    from alseg.stages.report import sweep_table
    from alseg.sweeps import load_sweep

    sweep = load_sweep(args.grid, _overrides(args.set or []))
    report = run_sweep(sweep.name, sweep.configs, sweep.parallelism, runs_dir=args.runs_dir,
                       experiment=args.experiment, caching=not args.no_cache)  # fmt: skip
    print(f"\n{sweep_table(report['experiments'])}\n\nwall {report['wall_seconds']} s")
    print(f"Report: {report['html']}")
    return 0


def cmd_step(args: argparse.Namespace) -> int:
    """Run one stage on folders, exactly as its KFP component does (``registry.call``)."""
    from alseg import storage
    from alseg.checkpoints import CheckpointError
    from alseg.data.readers import DataError
    from alseg.stages import registry
    from alseg.tables import TableError

    cfg = _config(args)
    stage = registry.STAGES[args.stage]
    inputs = step_inputs(args.stage, args.input or [])
    storage.ensure_writable(Path(args.out).resolve().parent)
    options = {"stage": args.train_stage} if "stage" in stage.options else {}
    params = stage_params(cfg, args.stage)
    try:
        print(registry.call(args.stage, params, inputs, args.out, args.round, **options))
    except (ConfigError, DataError, TableError, CheckpointError):
        raise
    except (ValueError, KeyError, IndexError) as err:  # stage checks; other errors keep traces
        raise StepFailed(f"{args.stage}: {type(err).__name__}: {err}") from None
    return 0


class StepFailed(RuntimeError):
    """A stage run by ``alseg step`` rejected its inputs; one line, exit status 1."""


def step_inputs(stage: str, pairs: list[str]) -> dict[str, str]:
    """``--input NAME=FOLDER`` pairs -> {name: folder}; ConfigError naming the option when a
    name is unknown or missing, or a folder does not exist."""
    from alseg.stages.registry import STAGES

    names = [n.rstrip("?") for n in STAGES[stage].inputs]
    inputs = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or name not in names:
            raise ConfigError(f"--input {pair}: expected NAME=FOLDER with NAME in {names}")
        if not Path(folder).is_dir():
            raise ConfigError(f"--input {pair}: folder not found")
        inputs[name] = folder
    for name in STAGES[stage].required:
        if name not in inputs:
            raise ConfigError(f"step {stage}: missing --input {name}=FOLDER")
    return inputs


def cmd_data_check(args: argparse.Namespace) -> int:
    """Read every file of the config's dataset once; exit 2 when a problem was found."""
    from alseg.data.check import check_dataset

    lines, problems = check_dataset(_config(args).data)
    print("\n".join(lines))
    return 2 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("config", help="experiment preset (YAML), e.g. configs/default.yaml")
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config field, e.g. --set train.iterations=50",
        )
        p.add_argument("--data-root", help="shortcut for --set data.root=...")
        return p

    run = with_config(sub.add_parser("run", help="run an AL experiment locally (kfp.local)"))
    run.add_argument(
        "--run-name",
        help="name of the run (default: config name); reusing a "
        "name with the same config re-executes only failed or changed steps",
    )
    run.add_argument("--runs-dir", default="runs", help="artifacts, cache, logs, MLflow DB")
    run.add_argument("--experiment", default="alseg", help="MLflow experiment name")
    run.add_argument("--no-cache", action="store_true", help="execute every step again")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run a grid of experiments locally (sweep pipeline)")
    sweep.add_argument("grid", help="sweep grid (YAML), e.g. configs/sweeps/policies.yaml")
    sweep.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a field of every experiment"
    )
    sweep.add_argument("--runs-dir", default="runs")
    sweep.add_argument("--experiment", default="alseg", help="MLflow experiment name")
    sweep.add_argument("--no-cache", action="store_true")
    sweep.set_defaults(func=cmd_sweep)

    compare = sub.add_parser(
        "compare", help="table, CSVs and AL-curve PNG of experiment runs read from MLflow"
    )
    compare.add_argument("runs", nargs="*", metavar="RUN", help="run names or ids (default: all)")
    compare.add_argument("--experiment", help="MLflow experiment (default: every experiment)")
    compare.add_argument(
        "--filter", metavar="EXPR", help="MLflow filter, e.g. \"tags.`alseg.seed` = '0'\""
    )
    compare.add_argument("--x", choices=("clicks", "pool"), default="clicks",
                         help="x axis of the PNG: clicks or %% of pool cost")  # fmt: skip
    compare.add_argument("--runs-dir", default="runs", help="holds mlflow.db (default store)")
    compare.add_argument("--out", help="output folder (default RUNS_DIR/compare)")
    compare.set_defaults(func=cmd_compare)

    from alseg import cluster_cli

    cluster_cli.add_commands(sub, with_config, _cluster_command)

    step = sub.add_parser("step", help="run one stage on local folders")
    from alseg.stages.registry import STEP_STAGES

    step.add_argument("stage", choices=sorted(STEP_STAGES))
    with_config(step)
    step.add_argument("--round", type=int, default=0)
    step.add_argument(
        "--train-stage",
        type=int,
        default=1,
        choices=(1, 2),
        help="train: 2 = MulActSeg's retrain on pseudo-labels",
    )
    step.add_argument("--input", action="append", metavar="NAME=FOLDER")
    step.add_argument("--out", required=True, help="output folder (written atomically)")
    step.set_defaults(func=cmd_step)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data", required=True)
    check = data.add_parser("check", help="read every file once: counts, sizes, class pixels")
    with_config(check).set_defaults(func=cmd_data_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    from alseg.checkpoints import CheckpointError
    from alseg.data.readers import DataError
    from alseg.kfp_client import ClusterError
    from alseg.runner import PipelineFailed
    from alseg.runs import TrackingUnavailable, terminate_as_interrupt
    from alseg.secrets import redact
    from alseg.storage import StorageError
    from alseg.tables import TableError

    bad_input = (ConfigError, DataError, StorageError, TableError, CheckpointError,
                 TrackingUnavailable)  # fmt: skip
    args = build_parser().parse_args(argv)
    try:
        with terminate_as_interrupt():
            return args.func(args)
    except bad_input as err:
        print(redact(f"alseg: error: {err}"), file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a read-only output folder: name the file, no traceback
        print(redact(f"alseg: error: {err.filename or ''}: {err.strerror or err}"), file=sys.stderr)
        return 2
    except PipelineFailed as err:
        print(redact(f"alseg: pipeline failed: {err}"), file=sys.stderr)
        return 1
    except StepFailed as err:
        print(redact(f"alseg: step failed: {err}"), file=sys.stderr)
        return 1
    except ClusterError as err:
        print(redact(f"alseg: cluster error: {err}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("alseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
