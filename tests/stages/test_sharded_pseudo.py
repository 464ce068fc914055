"""Sharded pseudo-labels (MulActSeg stage 2): shards of whole batches of the labelled images,
read by URI, joined by the merge into the unsharded folder, bytes."""

from pathlib import Path

import numpy as np
import pytest

from alseg import storage
from alseg.config import TrainConfig
from alseg.stages import shards
from alseg.stages.common import read_json
from alseg.stages.pseudo_stage import run_pseudo

BATCH = 2


@pytest.fixture(scope="module")
def labelled_pool(tmp_path_factory) -> dict:
    """11 train images at 32x48, grid regions, round-0 multi-class labels, a 2-step model."""
    from tests.conftest import label_round_zero_and_train, prepare_pool

    tmp = prepare_pool(tmp_path_factory.mktemp("pseudo"), n_train=11, n_val=2)
    label = {"type": "multiclass", "trim_kernel": 3, "void": "drop"}
    budget = {"initial_clicks": 24, "clicks_per_round": 12, "overshoot": False}
    label_round_zero_and_train({"seed": 0, "label": label, "budget": budget}, tmp)
    params = {"device": "cpu", "label": label,
              "train": TrainConfig(eval_batch_size=BATCH).model_dump()}  # fmt: skip
    return {"tmp": tmp, "params": params}


def _pseudo(pool: dict, n_shards: int, out: Path) -> Path:
    """Pseudo-label in ``n_shards`` shards (merged in reverse order); the merged folder."""
    tmp = pool["tmp"]
    folders = [out / f"shard{s}" for s in range(n_shards)]
    for s, folder in enumerate(folders):
        run_pseudo(pool["params"], 0, str(tmp / "prepared"), str(tmp / "regions"), tmp / "labels",
                   tmp / "model", folder, shard=s, shards=n_shards)  # fmt: skip
    shards.run_merge_pseudo({}, 0, folders[::-1], out / "merged")
    return out / "merged"


def test_sharded_pseudo_labels_equal_unsharded(labelled_pool, tmp_path: Path) -> None:
    targets = np.load(labelled_pool["tmp"] / "labels" / "target_images.npy")
    assert len(targets) > 2 * BATCH  # several batches to split
    whole = _pseudo(labelled_pool, 1, tmp_path / "1")
    for n_shards in (3, 2 * len(targets)):  # the second leaves shards without an image
        split = _pseudo(labelled_pool, n_shards, tmp_path / str(n_shards))
        for file in ("targets.npy", "target_images.npy", "coverage.parquet"):
            assert (split / file).read_bytes() == (whole / file).read_bytes(), (n_shards, file)
        summary, reference = read_json(split / "summary.json"), read_json(whole / "summary.json")
        for key in ("images", "pseudo_pixels", "pseudo_pixel_accuracy", "pseudo_coverage_pct"):
            assert summary[key] == reference[key], key
    assert read_json(whole / "summary.json")["pseudo_pixels"] > 0
    assert (np.load(whole / "target_images.npy") == targets).all()


def test_a_pseudo_shard_reads_only_its_images(labelled_pool, tmp_path: Path) -> None:
    tmp = labelled_pool["tmp"]
    storage.bytes_read(reset=True)
    run_pseudo(labelled_pool["params"], 0, str(tmp / "prepared"), str(tmp / "regions"),
               tmp / "labels", tmp / "model", tmp_path / "s0", shard=0, shards=3)  # fmt: skip
    images = len(np.load(tmp_path / "s0" / "target_images.npy"))
    per_image = 32 * 48 * (3 + 1 + 4)  # RGB uint8, labels uint8, region map int32
    assert 0 < images * per_image <= storage.bytes_read() < images * per_image + 4096


def test_npy_rows_take_reads_runs_of_rows(tmp_path: Path) -> None:
    array = np.arange(6 * 2, dtype=np.int16).reshape(6, 2)
    np.save(tmp_path / "a.npy", array)
    rows = storage.NpyRows(str(tmp_path / "a.npy"))
    storage.bytes_read(reset=True)
    assert (rows.take([0, 1, 2, 4]) == array[[0, 1, 2, 4]]).all()
    assert storage.bytes_read() == 4 * 4  # rows 0..2 in one read, row 4 in another
    assert rows.take([]).shape == (0, 2)
    with pytest.raises(IndexError, match="ascending indices in 0 .. 5"):
        rows.take([2, 1])
    with pytest.raises(IndexError, match="ascending"):
        rows.take([6])
