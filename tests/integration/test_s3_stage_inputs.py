"""Stages read the prepared set and the regions by URI (as their KFP components take them):
from an s3:// prefix they write the same folders as from local paths, and they read only
what they use."""

from pathlib import Path

import numpy as np
import pytest

from alseg import storage
from alseg.config import AcquisitionConfig, ModelConfig, TrainConfig
from alseg.stages import labeling, model_stages
from tests.conftest import prepare_pool
from tests.integration.s3server import S3Server

LABEL = {"type": "multiclass", "trim_kernel": 3, "void": "drop"}
BUDGET = {"initial_clicks": 24, "clicks_per_round": 12, "overshoot": False}
TRAIN = TrainConfig(iterations=2, batch_size=2, eval_batch_size=4, trainer="mulactseg")
PARAMS = {"seed": 0, "device": "cpu", "label": LABEL, "budget": BUDGET,
          "acquisition": AcquisitionConfig(batch_size=4).model_dump(),
          "model": ModelConfig().model_dump(), "train": TRAIN.model_dump()}  # fmt: skip


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """10 train + 3 val images at 32x48 with 8x8 grid regions, prepared on local disk."""
    return prepare_pool(tmp_path_factory.mktemp("uri"), n_train=10, n_val=3)


def _round(prepared: str, regions_dir: str, out: Path) -> Path:
    """init -> oracle -> train (MulActSeg: the labelled images' maps) -> evaluate -> score ->
    select -> oracle, with ``prepared`` / ``regions_dir`` given as URIs."""
    pool = (prepared, regions_dir)
    labeling.run_init(PARAMS, *pool, out / "init")
    labeling.run_oracle(PARAMS, 0, out / "init", *pool, out / "init", out / "labels")
    model_stages.run_train(PARAMS, 0, prepared, out / "labels", out / "model", None, regions_dir)
    model_stages.run_evaluate(PARAMS, 0, prepared, out / "model", out / "labels", out / "eval")
    model_stages.run_score(PARAMS, 0, *pool, out / "model", out / "scores", out / "labels")
    labeling.run_select(PARAMS, 1, out / "scores", out / "init", out / "labels", regions_dir,
                        out / "queries")  # fmt: skip
    labeling.run_oracle(PARAMS, 1, out / "queries", *pool, out / "init", out / "labels-1",
                        out / "labels")  # fmt: skip
    return out


def test_stages_read_prepared_and_regions_from_s3_as_from_disk(
    pool: Path, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = s3.client()
    for folder in ("prepared", "regions"):
        for path in sorted((pool / folder).rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, f"run/{folder}/{path.name}")
    local = _round(str(pool / "prepared"), str(pool / "regions"), tmp_path / "local")
    remote = _round(f"s3://{bucket}/run/prepared", f"s3://{bucket}/run/regions",
                    tmp_path / "s3")  # fmt: skip
    for file in ("init/queries.parquet", "init/costs.npy", "labels/labels.parquet",
                 "labels/targets.npy", "scores/scores.parquet", "queries/queries.parquet",
                 "labels-1/labels.parquet", "labels-1/targets.npy"):  # fmt: skip
        assert (remote / file).read_bytes() == (local / file).read_bytes(), file
    assert (remote / "eval" / "round_00.json").is_file()


def test_a_task_reads_only_what_it_uses(pool: Path, tmp_path: Path) -> None:
    """Bytes through alseg.storage: evaluate reads the val split, select the regions table,
    the oracle the queried images' rows (answers) and the labelled images' rows (targets), the
    dominant-label init the regions table."""
    supervised = TRAIN.model_copy(update={"trainer": "supervised"}).model_dump()
    params = {**PARAMS, "label": {"type": "dominant"}, "train": supervised}
    prepared, regions_dir = str(pool / "prepared"), str(pool / "regions")
    files = [p for folder in ("prepared", "regions") for p in (pool / folder).iterdir()]
    sizes = {p.name: p.stat().st_size for p in files}
    header = 128  # .npy header
    storage.bytes_read(reset=True)
    labeling.run_init(params, prepared, regions_dir, tmp_path / "init")
    assert storage.bytes_read(reset=True) == sizes["regions.parquet"] + sizes["meta.json"] + header
    labeling.run_oracle(params, 0, tmp_path / "init", prepared, regions_dir, tmp_path / "init",
                        tmp_path / "labels")  # fmt: skip
    images = len(np.load(tmp_path / "labels" / "target_images.npy"))
    assert 0 < images < 10
    gt_row, map_row = 32 * 48, 32 * 48 * 4  # uint8 ground truth, int32 region map
    # round 0: queried = labelled images; answers read both rows, dominant targets the map
    read = storage.bytes_read(reset=True) - images * (gt_row + 2 * map_row)
    assert 0 < read < 16_384  # tables, meta, headers
    model_stages.run_train(params, 0, prepared, tmp_path / "labels", tmp_path / "model")
    model_stages.run_evaluate(params, 0, prepared, tmp_path / "model", tmp_path / "labels",
                              tmp_path / "eval")  # fmt: skip
    val = sizes["val_images.npy"] + sizes["val_labels.npy"]
    read = storage.bytes_read(reset=True) - sizes["train_images.npy"] - val
    assert 0 < read < 16_384  # meta.json twice, the model's packaged weights read none
    model_stages.run_score(params, 0, prepared, regions_dir, tmp_path / "model",
                           tmp_path / "scores", tmp_path / "labels")  # fmt: skip
    storage.bytes_read(reset=True)
    labeling.run_select(params, 1, tmp_path / "scores", tmp_path / "init", tmp_path / "labels",
                        regions_dir, tmp_path / "queries")  # fmt: skip
    assert storage.bytes_read() < sizes["regions.parquet"] + sizes["meta.json"] + 4096
