"""The bad-input corpus: every case runs the real CLI in-process (``alseg run`` or ``alseg step``
on a tiny pool shared by the module) and must give one line on stderr naming the file, field or
command-line option, a non-zero exit, no traceback, no partial output (no output folder, no
temporary left next to it) and nothing earlier lost (a pre-existing output folder is untouched).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from alseg.cli import main
from alseg.secrets import secret_values
from tests.conftest import write_folder_dataset

REPO = Path(__file__).parents[2]
TINY = REPO / "configs" / "tiny.yaml"
STEP_CONFIG = """base: {tiny}
device: cpu
data: {{dataset: camvid, root: {root}, image_size: [32, 48], workers: 1}}
region: {{type: grid, size: 8}}
train: {{iterations: 2, batch_size: 2, eval_batch_size: 4}}
budget: {{initial_clicks: 10, clicks_per_round: 12}}
"""


@dataclass
class Pool:
    """A tiny pool after round 0 (every stage's folders), built once per module."""

    root: Path  # dataset (CamVid layout)
    config: Path
    folders: dict[str, Path]


def cli(argv: list[str]) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Pool:
    tmp = tmp_path_factory.mktemp("corpus-pool")
    root = write_folder_dataset(tmp / "data", n_train=6, n_val=2)
    config = tmp / "step.yaml"
    config.write_text(STEP_CONFIG.format(tiny=TINY, root=root))
    f = {name: tmp / name for name in ("prepared", "regions", "init", "labels", "model", "scores")}
    steps = [
        ["prepare"],
        ["regions", "--input", f"prepared={f['prepared']}"],
        ["init", "--input", f"prepared={f['prepared']}", "--input", f"regions={f['regions']}"],
        [
            "oracle",
            "--input",
            f"queries={f['init']}",
            "--input",
            f"prepared={f['prepared']}",
            "--input",
            f"regions={f['regions']}",
            "--input",
            f"init={f['init']}",
        ],
        ["train", "--input", f"prepared={f['prepared']}", "--input", f"labels={f['labels']}"],
        [
            "score",
            "--input",
            f"prepared={f['prepared']}",
            "--input",
            f"regions={f['regions']}",
            "--input",
            f"model={f['model']}",
            "--input",
            f"labels={f['labels']}",
        ],
    ]
    outs = ["prepared", "regions", "init", "labels", "model", "scores"]
    for step, out in zip(steps, outs, strict=True):
        assert cli(["step", step[0], config, *step[1:], "--out", f[out]]) == 0, step
    return Pool(root, config, f)


def dataset_copy(pool: Pool, tmp: Path) -> Path:
    root = tmp / "data"
    shutil.copytree(pool.root, root)
    return root


def copy_folder(pool: Pool, name: str, tmp: Path) -> Path:
    target = tmp / name
    shutil.copytree(pool.folders[name], target)
    return target


def step(pool: Pool, stage: str, inputs: dict[str, Path], *extra: str) -> list:
    """argv of ``alseg step STAGE`` on the pool's config (inputs default to the pool's)."""
    argv: list = ["step", stage, pool.config, *extra]
    for name, folder in inputs.items():
        argv += ["--input", f"{name}={folder}"]
    return argv


def prepare_on(root: Path | str, pool: Pool, *extra: str) -> list:
    return step(pool, "prepare", {}, "--data-root", str(root), *extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_model(folder: Path, num_classes: int, backbone: str = "mobilenet_v2", fill=None) -> Path:
    """A real checkpoint folder of ``num_classes`` outputs (weights filled with ``fill``)."""
    from alseg.config import ModelConfig
    from alseg.train import model_from_config, save_checkpoint

    cfg = ModelConfig(backbone=backbone)
    model = model_from_config(cfg, num_classes, False)
    if fill is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(fill)
    folder.mkdir(parents=True)
    save_checkpoint(
        model, folder, {"num_classes": num_classes, "model": cfg.model_dump(), "train_seconds": 0.0}
    )
    return folder


def rewrite_parquet(path: Path, table: pa.Table, metadata: dict[bytes, bytes]) -> None:
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_only(folder: Path) -> Path:
    """``folder`` made unwritable: mode 0555, and the immutable flag when running as root."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode().strip()}")
    return folder


def writable_again(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


# ---- the cases: (pool, tmp, monkeypatch) -> (argv, text the error line must contain) ----------
Case = Callable[[Pool, Path, pytest.MonkeyPatch], tuple[list, str]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def yaml_file(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def run_argv(config: Path | str, tmp: Path, *extra: str) -> list:
    return ["run", config, "--runs-dir", tmp / "runs", *extra]


@case("base-cycle")
def _(pool, tmp, mp):
    yaml_file(tmp, "b.yaml", "base: a.yaml\n")
    a = yaml_file(tmp, "a.yaml", "base: b.yaml\nname: a\n")
    return run_argv(a, tmp), "inheritance cycle"


@case("base-names-itself")
def _(pool, tmp, mp):
    return run_argv(yaml_file(tmp, "self.yaml", "base: self.yaml\n"), tmp), "self.yaml"


@case("base-is-a-list")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "l.yaml", f"base: [{TINY}]\n")
    return run_argv(bad, tmp), f"{bad}: field 'base': expected one file name"


@case("base-missing-names-referrer")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "m.yaml", "base: nowhere.yaml\n")
    return run_argv(bad, tmp), f"{bad}: field 'base': file {tmp / 'nowhere.yaml'} not found"


@case("yaml-syntax")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "s.yaml", "budget: {rounds: 2\n")
    return run_argv(bad, tmp), f"{bad}: not valid YAML"


@case("top-level-list")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "t.yaml", "- a\n- b\n")
    return run_argv(bad, tmp), f"{bad}: expected a mapping"


@case("config-missing")
def _(pool, tmp, mp):
    return run_argv(tmp / "none.yaml", tmp), f"{tmp / 'none.yaml'}: config file not found"


@case("unknown-key")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "u.yaml", f"base: {TINY}\nbudget: {{roundz: 2}}\n")
    return run_argv(bad, tmp), f"{bad}: field 'budget.roundz': unknown key"


@case("bad-value")
def _(pool, tmp, mp):
    bad = yaml_file(tmp, "v.yaml", f"base: {TINY}\ntrain: {{lr: -1}}\n")
    return run_argv(bad, tmp), f"{bad}: field 'train.lr'"


@case("set-unknown-key-names-option")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "budget.roundz=2"), "--set budget.roundz=2: field"


@case("set-bad-value-names-option")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "budget.rounds=abc"), "--set budget.rounds=abc: field"


@case("set-without-equals")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "budget.rounds"), "--set budget.rounds: expected KEY="


@case("set-invalid-yaml")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "data.image_size=[1,"), "--set data.image_size=[1,"


@case("set-into-a-scalar")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "budget.rounds.x=1"), "--set budget.rounds.x=1: field"


@case("set-needs-root-names-option")
def _(pool, tmp, mp):
    return run_argv(TINY, tmp, "--set", "data.dataset=camvid"), "--set data.dataset=camvid"


@case("mlflow-unreachable")
def _(pool, tmp, mp):
    mp.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    return run_argv(TINY, tmp), "MLFLOW_TRACKING_URI=http://127.0.0.1:"


@case("runs-folder-read-only")
def _(pool, tmp, mp):
    locked = read_only(tmp / "locked")
    return ["run", TINY, "--runs-dir", locked / "runs"], f"{locked / 'runs'}: not writable"


@case("step-out-read-only")
def _(pool, tmp, mp):
    locked = read_only(tmp / "locked")
    return [
        *step(pool, "regions", {"prepared": pool.folders["prepared"]}),
        "--out",
        locked / "out",
    ], f"{locked}: not writable"


@case("step-input-folder-missing")
def _(pool, tmp, mp):
    gone = tmp / "gone"
    return step(pool, "regions", {"prepared": gone}), f"--input prepared={gone}: folder not found"


@case("step-input-not-given")
def _(pool, tmp, mp):
    return step(pool, "regions", {}), "missing --input prepared=FOLDER"


@case("step-input-unknown-name")
def _(pool, tmp, mp):
    return step(pool, "regions", {"prepped": pool.folders["prepared"]}), "--input prepped="


@case("dataset-root-missing")
def _(pool, tmp, mp):
    return prepare_on(tmp / "no-data", pool), f"{tmp / 'no-data'}"


@case("corrupt-image")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    (root / "train" / "img001.png").write_bytes(b"\x89PNG broken")
    return prepare_on(root, pool), f"{root / 'train' / 'img001.png'}"


@case("missing-label-file")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    (root / "trainannot" / "img002.png").unlink()
    return prepare_on(root, pool), f"{root / 'train' / 'img002.png'}: missing label file"


@case("label-id-out-of-range")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    label = cv2.imread(str(root / "valannot" / "img000.png"), cv2.IMREAD_UNCHANGED)
    label[5, 5] = 9
    cv2.imwrite(str(root / "valannot" / "img000.png"), label)
    return prepare_on(root, pool), f"{root / 'valannot' / 'img000.png'}"


@case("empty-split")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    for path in (root / "val").iterdir():
        path.unlink()
    return prepare_on(root, pool), f"{root / 'val'}"


@case("image-label-size-mismatch")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    cv2.imwrite(str(root / "train" / "img003.png"), np.zeros((20, 20, 3), np.uint8))
    return prepare_on(root, pool), f"{root / 'train' / 'img003.png'}"


@case("classes-json-string")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    (root / "classes.json").write_text(json.dumps({"classes": "abcd", "ignore_index": 4}))
    return prepare_on(root, pool), f"{root / 'classes.json'}"


@case("ignore-index-inside-classes")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    (root / "classes.json").write_text(json.dumps({"classes": list("abcd"), "ignore_index": 2}))
    return prepare_on(root, pool), f"{root / 'classes.json'}"


@case("duplicate-stem")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    shutil.copy(root / "train" / "img000.png", root / "train" / "img000.jpg")
    return prepare_on(root, pool), "img000"


@case("path-escapes-dataset-root")
def _(pool, tmp, mp):
    root = dataset_copy(pool, tmp)
    outside = tmp / "outside.png"
    shutil.copy(root / "train" / "img000.png", outside)
    (root / "train" / "img009.png").symlink_to(outside)
    shutil.copy(root / "trainannot" / "img000.png", root / "trainannot" / "img009.png")
    return prepare_on(root, pool), "escapes the dataset root"


@case("s3-endpoint-unreachable")
def _(pool, tmp, mp):
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://alseg:endpoint-pw@127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "AKIACORPUS0TEST",
        "AWS_SECRET_ACCESS_KEY": "c0rpus+s3cret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "2",
    }.items():
        mp.setenv(name, value)
    return prepare_on("s3://alseg-corpus/data", pool), "s3://alseg-corpus/data"


@case("scores-table-missing-column")
def _(pool, tmp, mp):
    scores = copy_folder(pool, "scores", tmp)
    table = pq.read_table(scores / "scores.parquet")
    rewrite_parquet(scores / "scores.parquet", table.drop(["pred_class"]), table.schema.metadata)
    return _select(pool, scores), f"{scores / 'scores.parquet'}: columns"


@case("scores-table-other-schema-version")
def _(pool, tmp, mp):
    scores = copy_folder(pool, "scores", tmp)
    table = pq.read_table(scores / "scores.parquet")
    meta = {**table.schema.metadata, b"alseg.schema_version": b"2"}
    rewrite_parquet(scores / "scores.parquet", table, meta)
    return _select(pool, scores), f"{scores / 'scores.parquet'}: expected a 'scores' table v1"


@case("labels-table-not-parquet")
def _(pool, tmp, mp):
    labels = copy_folder(pool, "labels", tmp)
    (labels / "labels.parquet").write_bytes(b"not parquet at all")
    return _select(pool, pool.folders["scores"], labels), f"{labels / 'labels.parquet'}"


@case("labels-table-missing")
def _(pool, tmp, mp):
    labels = copy_folder(pool, "labels", tmp)
    (labels / "labels.parquet").unlink()
    return _select(pool, pool.folders["scores"], labels), f"{labels / 'labels.parquet'}"


def _select(pool: Pool, scores: Path, labels: Path | None = None) -> list:
    f = pool.folders
    return step(
        pool,
        "select",
        {
            "scores": scores,
            "init": f["init"],
            "labels": labels or f["labels"],
            "regions": f["regions"],
        },
    )


def _evaluate(pool: Pool, model: Path) -> list:
    f = pool.folders
    return step(
        pool, "evaluate", {"prepared": f["prepared"], "model": model, "labels": f["labels"]}
    )


def _score(pool: Pool, model: Path) -> list:
    f = pool.folders
    return step(
        pool,
        "score",
        {"prepared": f["prepared"], "regions": f["regions"], "model": model, "labels": f["labels"]},
    )


@case("checkpoint-other-class-count")
def _(pool, tmp, mp):
    model = save_model(tmp / "model6", num_classes=7)
    return _evaluate(pool, model), f"{model / 'model.json'}: model of 7 classes"


@case("checkpoint-other-backbone-warm-start")
def _(pool, tmp, mp):
    model = copy_folder(pool, "model", tmp)
    sidecar = json.loads((model / "model.json").read_text())
    sidecar["model"]["backbone"] = "resnet50"
    (model / "model.json").write_text(json.dumps(sidecar))
    f = pool.folders
    argv = step(
        pool,
        "train",
        {"prepared": f["prepared"], "labels": f["labels"], "previous_model": model},
        "--set",
        "train.warm_start=true",
    )
    return argv, f"{model / 'model.json'}: backbone 'resnet50'"


@case("checkpoint-weights-of-another-backbone")
def _(pool, tmp, mp):
    model = copy_folder(pool, "model", tmp)
    sidecar = json.loads((model / "model.json").read_text())
    sidecar["model"]["backbone"] = "resnet50"
    (model / "model.json").write_text(json.dumps(sidecar))
    return _score(pool, model), f"{model / 'model.pt'}: weights do not load"


@case("checkpoint-corrupt")
def _(pool, tmp, mp):
    model = copy_folder(pool, "model", tmp)
    (model / "model.pt").write_bytes(b"\x00" * 64)
    return _evaluate(pool, model), f"{model / 'model.pt'}"


@case("checkpoint-description-missing")
def _(pool, tmp, mp):
    model = copy_folder(pool, "model", tmp)
    (model / "model.json").unlink()
    return _score(pool, model), f"{model / 'model.json'}: model description not found"


@case("nan-model-outputs-in-scoring")
def _(pool, tmp, mp):
    model = save_model(tmp / "nan", num_classes=4, fill=float("nan"))
    return _score(pool, model), f"{model / 'model.pt'}: the model outputs NaN or inf"


@case("inf-model-outputs-in-evaluation")
def _(pool, tmp, mp):
    model = save_model(tmp / "inf", num_classes=4, fill=float("inf"))
    return _evaluate(pool, model), f"{model / 'model.pt'}: the model outputs NaN or inf"


@case("pretrained-weights-missing")
def _(pool, tmp, mp):
    f = pool.folders
    gone = tmp / "weights.pt"
    argv = step(
        pool,
        "train",
        {"prepared": f["prepared"], "labels": f["labels"]},
        "--set",
        f"model.pretrained={gone}",
    )
    return argv, str(gone)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_and_leaves_nothing(name, pool, tmp_path, monkeypatch, capsys):
    argv, expected = CASES[name](pool, tmp_path, monkeypatch)
    out = tmp_path / "earlier-output"
    if argv[0] == "step" and "--out" not in argv:
        out.mkdir()
        (out / "keep.txt").write_text("an earlier result")
        argv = [*argv, "--out", out]
    capsys.readouterr()
    start = time.monotonic()
    try:
        code = cli(argv)
    finally:
        for locked in tmp_path.glob("locked"):
            writable_again(locked)
    seconds = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "\n" not in err and err.startswith("alseg: "), err
    assert "Traceback" not in err
    assert expected in err, err
    assert all(value not in err for value in [*secret_values(), "endpoint-pw"])  # redacted
    assert seconds < 30  # unreachable servers are bounded too
    if argv[0] == "step" and (tmp_path / "earlier-output").exists():
        assert [p.name for p in out.iterdir()] == ["keep.txt"]  # nothing earlier lost
        assert (out / "keep.txt").read_text() == "an earlier result"
    assert not list(tmp_path.glob(".*.tmp-*")) and not list(tmp_path.glob("locked/*"))
    runs = tmp_path / "runs"
    assert not (runs / "pipeline_root").exists() or not any((runs / "pipeline_root").iterdir())


def test_corpus_size() -> None:
    assert len(CASES) >= 30


def test_budget_larger_than_the_pool_warns(pool, tmp_path, capsys) -> None:
    f = pool.folders
    argv = step(
        pool,
        "init",
        {"prepared": f["prepared"], "regions": f["regions"]},
        "--set",
        "budget.initial_clicks=100000",
        "--out",
        tmp_path / "init",
    )
    assert cli(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert lines == [
        "[alseg] warning: budget of 100012 clicks exceeds the pool's cost of 144 clicks; "
        "rounds after the pool is exhausted label nothing"
    ]
