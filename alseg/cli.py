"""``alseg`` command line: run, compile, step.

Errors in input (config, dataset files, tables) print one line naming the file or field and exit
with status 2; a failed pipeline task exits with status 1 and names the log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from alseg.config import ConfigError, ExperimentConfig, load_config, stage_params


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """``["train.iterations=50"]`` -> {"train.iterations": 50} (values parsed as YAML)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair}: expected KEY=VALUE")
        parsed[key] = yaml.safe_load(value)
    return parsed


def _config(args: argparse.Namespace) -> ExperimentConfig:
    overrides = _overrides(args.set or [])
    if getattr(args, "data_root", None):
        overrides["data.root"] = args.data_root
    return load_config(args.config, overrides)


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
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from alseg.runner import compile_pipeline

    cfg = _config(args)
    output = compile_pipeline(cfg, args.output or f"build/{cfg.name}.yaml")
    print(output)
    return 0


STAGE_INPUTS = {
    "prepare": [],
    "regions": ["prepared"],
    "init": ["prepared", "regions"],
    "oracle": ["queries", "prepared", "regions", "init", "previous_labels?"],
    "train": ["prepared", "labels", "previous_model?"],
    "evaluate": ["prepared", "model", "labels", "history?"],
    "score": ["prepared", "regions", "model"],
    "select": ["scores", "init", "labels", "regions"],
    "report": ["evaluation", "labels"],
}


def cmd_step(args: argparse.Namespace) -> int:
    """Run one stage on folders, exactly as its KFP component does."""
    from alseg.config import DataConfig, RegionConfig
    from alseg.stages import labeling, model_stages, prepare, regions, report, run_stage

    cfg = _config(args)
    params = json.loads(stage_params(cfg, args.stage))
    inputs = dict(kv.split("=", 1) for kv in args.input or [])
    for name in STAGE_INPUTS[args.stage]:
        if not name.endswith("?") and name not in inputs:
            raise ConfigError(f"step {args.stage}: missing --input {name}=FOLDER")
    get = inputs.get
    r = args.round
    calls = {
        "prepare": lambda: (prepare.run, DataConfig(**params["data"]), args.out),
        "regions": lambda: (
            regions.run,
            RegionConfig(**params["region"]),
            get("prepared"),
            args.out,
            cfg.data.workers,
        ),
        "init": lambda: (labeling.run_init, params, get("prepared"), get("regions"), args.out),
        "oracle": lambda: (
            labeling.run_oracle,
            params,
            r,
            get("queries"),
            get("prepared"),
            get("regions"),
            get("init"),
            args.out,
            get("previous_labels"),
        ),
        "train": lambda: (
            model_stages.run_train,
            params,
            r,
            get("prepared"),
            get("labels"),
            args.out,
            get("previous_model"),
        ),
        "evaluate": lambda: (
            model_stages.run_evaluate,
            params,
            r,
            get("prepared"),
            get("model"),
            get("labels"),
            args.out,
            get("history"),
        ),
        "score": lambda: (
            model_stages.run_score,
            params,
            r,
            get("prepared"),
            get("regions"),
            get("model"),
            args.out,
        ),
        "select": lambda: (
            labeling.run_select,
            params,
            r,
            get("scores"),
            get("init"),
            get("labels"),
            get("regions"),
            args.out,
        ),
        "report": lambda: (report.run, params, get("evaluation"), get("labels"), args.out),
    }
    fn, *call_args = calls[args.stage]()
    print(run_stage(args.stage, fn, *call_args, round_index=r))
    return 0


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

    comp = with_config(sub.add_parser("compile", help="write the pipeline IR YAML"))
    comp.add_argument("-o", "--output", help="output YAML (default build/NAME.yaml)")
    comp.set_defaults(func=cmd_compile)

    step = sub.add_parser("step", help="run one stage on local folders")
    step.add_argument("stage", choices=sorted(STAGE_INPUTS))
    with_config(step)
    step.add_argument("--round", type=int, default=0)
    step.add_argument("--input", action="append", metavar="NAME=FOLDER")
    step.add_argument("--out", required=True, help="output folder (written atomically)")
    step.set_defaults(func=cmd_step)
    return parser


def main(argv: list[str] | None = None) -> int:
    from alseg.data.readers import DataError
    from alseg.runner import PipelineFailed
    from alseg.storage import StorageError
    from alseg.tables import TableError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, StorageError, TableError) as err:
        print(f"alseg: error: {err}", file=sys.stderr)
        return 2
    except PipelineFailed as err:
        print(f"alseg: pipeline failed: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
