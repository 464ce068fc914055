"""Sharded scoring: shard rows, the merge, ranged reads, and sharded = unsharded selections."""

import functools
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from alseg import labels, storage
from alseg.config import AcquisitionConfig, ConfigError, parse_config
from alseg.stages import labeling, model_stages, shards
from alseg.stages.common import read_json

N_TRAIN, BATCH = 11, 2  # 6 batches: 3 shards hold 2 + 2 + 2 batches, the last one short


def test_shard_rows_are_whole_batches_tiling_the_pool() -> None:
    # K = ceil(11 / 2) = 6 batches; shard s: batches [s K / S, (s + 1) K / S)
    assert [shards.shard_rows(11, 2, 3, s) for s in range(3)] == [
        slice(0, 4), slice(4, 8), slice(8, 11)]  # fmt: skip
    assert [shards.shard_rows(11, 2, 4, s) for s in range(4)] == [
        slice(0, 2), slice(2, 6), slice(6, 8), slice(8, 11)]  # fmt: skip
    assert shards.shard_rows(11, 2, 1, 0) == slice(0, 11)
    with pytest.raises(ValueError, match=r"shard 3 is not in 0 \.\. 2"):
        shards.shard_rows(11, 2, 3, 3)


def test_shard_count_auto_and_clipped_to_the_batches() -> None:
    assert shards.shard_count("auto", 500, 2975, 8) == 6  # ceil(2975 / 500)
    assert shards.shard_count("auto", 500, 367, 8) == 1
    assert shards.shard_count(4, 500, 367, 8) == 4
    assert shards.shard_count(10, 500, 11, 2) == 6  # at most ceil(11 / 2) batches


def test_shards_setting_is_validated_and_omitted_at_its_default() -> None:
    with pytest.raises(ConfigError, match=r"acquisition\.shards': .*positive integer or 'auto'"):
        parse_config({"acquisition": {"shards": 0}})
    with pytest.raises(ConfigError, match=r"acquisition\.shards'"):
        parse_config({"acquisition": {"shards": "many"}})
    assert "shards" not in AcquisitionConfig().model_dump()  # cache keys as before sharding
    assert AcquisitionConfig(shards="auto").model_dump()["shards"] == "auto"


def test_merged_prior_is_the_mean_of_the_batch_means_in_float32() -> None:
    prior = shards.merged_prior([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]])
    assert prior == np.float32([1.75 / 3, 1.25 / 3]).tolist()


def test_npy_rows_read_only_the_rows_asked_for(tmp_path: Path) -> None:
    array = np.arange(5 * 3 * 4, dtype=np.int32).reshape(5, 3, 4)
    np.save(tmp_path / "a.npy", array)
    storage.bytes_read(reset=True)
    rows = storage.NpyRows(str(tmp_path / "a.npy"))
    header = storage.bytes_read(reset=True)
    assert rows.shape == (5, 3, 4) and header == rows.offset == 128
    window = rows.window(slice(1, 4))
    assert len(window) == 3 and (window[1:3] == array[2:4]).all() and (window[0] == array[1]).all()
    assert storage.bytes_read() == 3 * 48  # rows 2, 3 then row 1: 48 bytes each
    with pytest.raises(storage.StorageError, match="not a .npy file"):
        (tmp_path / "b.npy").write_bytes(b"x" * 32)
        storage.NpyRows(str(tmp_path / "b.npy"))


def _pool(tmp: Path, kind: str) -> dict:
    """11 train images at 32x48 with grid (8x8) or pixel regions, round-0 labels, a model."""
    from tests.conftest import label_round_zero_and_train, prepare_pool

    prepare_pool(tmp, n_train=N_TRAIN, n_val=2, kind=kind)
    budget = {"initial_clicks": 10, "clicks_per_round": 12, "overshoot": False}
    base = {"seed": 0, "device": "cpu", "label": {"type": "dominant"},
            "acquisition": AcquisitionConfig().model_dump(), "budget": budget}  # fmt: skip
    label_round_zero_and_train(base, tmp)
    return {"tmp": tmp, "base": base}


@pytest.fixture(scope="module")
def grid_pool(tmp_path_factory) -> dict:
    return _pool(tmp_path_factory.mktemp("grid"), "grid")


@pytest.fixture(scope="module")
def pixel_pool(tmp_path_factory) -> dict:
    return _pool(tmp_path_factory.mktemp("pixel"), "pixel")


@pytest.fixture(autouse=True)
def _model_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every score run of a pool reads the same checkpoint: build it once (0.5 s a load)."""
    load = functools.cache(model_stages.checkpoints.load_model)

    def cached(folder, device, outputs):
        return load(str(folder), device, outputs)

    monkeypatch.setattr(model_stages.checkpoints, "load_model", cached)


def _score_and_select(pool: dict, acquisition: dict, n_shards: int, out: Path) -> Path:
    """Score in ``n_shards`` shards (merged in reverse order), then select; the out folder."""
    tmp = pool["tmp"]
    params = {**pool["base"], "acquisition": acquisition}
    folders = [out / f"shard{s}" for s in range(n_shards)]
    for s, folder in enumerate(folders):
        model_stages.run_score(params, 0, str(tmp / "prepared"), str(tmp / "regions"),
                               tmp / "model", folder, tmp / "labels",
                               shard=s, shards=n_shards)  # fmt: skip
    shards.run_merge({}, 0, folders[::-1], out / "scores")
    labeling.run_select(params, 1, out / "scores", tmp / "init", tmp / "labels", tmp / "regions",
                        out / "queries")  # fmt: skip
    return out


CASES = [("grid", "entropy", {"aggregation": "p95"}), ("grid", "pixbal", {}),
         ("grid", "oreal", {}), ("grid", "random", {}), ("pixel", "margin", {}),
         ("pixel", "random", {})]  # fmt: skip


@pytest.mark.parametrize(("kind", "name", "block"), CASES, ids=[f"{k}-{n}" for k, n, _ in CASES])
def test_sharded_scoring_equals_unsharded(request, kind, name, block, tmp_path: Path) -> None:
    """3 shards (merged in reverse order) give the unsharded scores, prior and queries, bytes."""
    pool = request.getfixturevalue(f"{kind}_pool")
    acquisition = AcquisitionConfig(policy=name, batch_size=BATCH, **{name: block}).model_dump()
    whole = _score_and_select(pool, acquisition, 1, tmp_path / "1")
    split = _score_and_select(pool, acquisition, 3, tmp_path / "3")
    for file in ("scores/scores.parquet", "scores/meta.json", "queries/queries.parquet"):
        assert (split / file).read_bytes() == (whole / file).read_bytes(), file
    assert len(pq.read_table(split / "queries" / "queries.parquet")) > 0
    if name == "pixbal":  # the merged prior is the whole pool's, not the first shard's
        prior = read_json(whole / "shard0" / "meta.json")["class_prior"]
        assert read_json(split / "scores" / "meta.json")["class_prior"] == prior
        assert prior != read_json(split / "shard0" / "meta.json")["class_prior"]


def test_merge_rejects_a_missing_shard_and_scan_finds_region_ids(grid_pool, tmp_path) -> None:
    pool = grid_pool
    tmp = pool["tmp"]
    acquisition = AcquisitionConfig(policy="entropy", batch_size=BATCH).model_dump()
    out = _score_and_select(pool, acquisition, 3, tmp_path / "three")
    with pytest.raises(ValueError, match=r"shard 0 of 3 covers rows 0\.\.4, expected 2 shards"):
        shards.run_merge({}, 0, [out / "shard0", out / "shard1"], tmp_path / "merged")
    with pytest.raises(ValueError, match="expected 2 shards tiling the pool from row 0"):
        shards.run_merge({}, 0, [out / "shard1", out / "shard2"], tmp_path / "merged")
    meta = json.loads((tmp / "regions" / "meta.json").read_text())
    maps = storage.NpyRows(str(tmp / "regions" / "train_regions.npy"))
    scanned = labels.region_id_count({}, maps)  # folders written before region_ids
    assert scanned == meta["region_ids"] == 24  # (32 / 8) x (48 / 8) grid cells
