"""init -> oracle -> select -> oracle on a tiny dataset with 8x8 grid regions."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from alseg import IGNORE
from alseg.config import AcquisitionConfig, DataConfig, RegionConfig
from alseg.data.prepared import PreparedDataset
from alseg.stages import labeling, prepare, regions
from alseg.stages.common import read_json, write_json
from alseg.tables import read_table, write_table


@pytest.fixture
def pool(folder_dataset: Path, tmp_path: Path) -> dict[str, Path]:
    data = DataConfig(dataset="camvid", root=str(folder_dataset), image_size=(16, 24), workers=1)
    prepare.run(data, tmp_path / "prepared")
    regions.run(RegionConfig(type="grid", size=8), tmp_path / "prepared", tmp_path / "regions", 1)
    return {"prepared": tmp_path / "prepared", "regions": tmp_path / "regions", "tmp": tmp_path}


def params(label: str = "dominant", initial: int = 5, per_round: int = 4) -> dict:
    acquisition = AcquisitionConfig().model_dump()
    return {
        "acquisition": acquisition,
        "seed": 3,
        "label": {"type": label},
        "budget": {"initial_clicks": initial, "clicks_per_round": per_round, "overshoot": False},
    }


def test_grid_regions_table(pool) -> None:
    table = read_table(pool["regions"] / "regions.parquet", "regions")
    assert table.num_rows == 6 * 6  # 6 train images x (2 x 3) cells of 8x8
    assert set(table["n_pixels"].to_pylist()) == {64}
    assert table["neighbors"][0].as_py() == [1, 3]  # cell 0 touches 1 (right) and 3 (below)


def test_rounds_accumulate_and_never_repeat(pool) -> None:
    tmp = pool["tmp"]
    summary = labeling.run_init(params(), pool["prepared"], pool["regions"], tmp / "init")
    assert summary["clicks"] == 5
    labeling.run_oracle(
        params(), 0, tmp / "init", pool["prepared"], pool["regions"], tmp / "init", tmp / "labels0"
    )
    labels0 = read_table(tmp / "labels0" / "labels.parquet", "labels")
    # score every region; make the already-labelled ones the most attractive
    table = read_table(pool["regions"] / "regions.parquet", "regions")
    keys = list(zip(table["image_index"].to_pylist(), table["region_id"].to_pylist(), strict=True))
    done = set(
        zip(labels0["image_index"].to_pylist(), labels0["region_id"].to_pylist(), strict=True)
    )
    scores = np.array([10.0 if k in done else i / 100 for i, k in enumerate(keys)], np.float32)
    (tmp / "scores").mkdir()
    write_table(
        pa.table({"image_index": table["image_index"], "region_id": table["region_id"],
                  "score": scores, "pred_class": np.full(len(scores), -1, np.int16),
                  "vector": pa.array([[]] * len(scores), pa.list_(pa.float32()))}),
        tmp / "scores" / "scores.parquet", "scores",
    )  # fmt: skip
    write_json(tmp / "scores" / "meta.json", {"num_classes": 4, "class_prior": None})
    picked = labeling.run_select(
        params(), 1, tmp / "scores", tmp / "init", tmp / "labels0", pool["regions"], tmp / "q1"
    )
    queries = read_table(tmp / "q1" / "queries.parquet", "queries")
    assert picked["selected"] == 4 and picked["eligible"] == 36 - 5
    chosen = set(
        zip(queries["image_index"].to_pylist(), queries["region_id"].to_pylist(), strict=True)
    )
    assert not chosen & done
    assert chosen == set(sorted(set(keys) - done, key=keys.index)[-4:])  # the 4 highest scores
    summary = labeling.run_oracle(
        params(),
        1,
        tmp / "q1",
        pool["prepared"],
        pool["regions"],
        tmp / "init",
        tmp / "labels1",
        previous_labels_dir=tmp / "labels0",
    )
    labels1 = read_table(tmp / "labels1" / "labels.parquet", "labels")
    assert labels1.num_rows == 9 and summary["clicks_total"] == 9
    assert labels1["round"].to_pylist() == [0] * 5 + [1] * 4
    with pytest.raises(ValueError, match="already labelled"):
        labeling.run_oracle(
            params(),
            2,
            tmp / "q1",
            pool["prepared"],
            pool["regions"],
            tmp / "init",
            tmp / "labels2",
            previous_labels_dir=tmp / "labels1",
        )


def test_targets_paint_dominant_class_and_full_masks(pool) -> None:
    tmp = pool["tmp"]
    gt = PreparedDataset.open(pool["prepared"]).labels("train")
    for label in ("dominant", "full"):
        out = tmp / label
        labeling.run_init(
            params(label, initial=3 if label == "dominant" else 3 * 64),
            pool["prepared"],
            pool["regions"],
            out / "init",
        )
        labeling.run_oracle(
            params(label),
            0,
            out / "init",
            pool["prepared"],
            pool["regions"],
            out / "init",
            out / "labels",
        )
        labels = read_table(out / "labels" / "labels.parquet", "labels")
        targets = np.load(out / "labels" / "targets.npy")
        images = np.load(out / "labels" / "target_images.npy")
        pool_cost = read_json(out / "init" / "meta.json")["pool_cost"]
        assert labels.num_rows == 3 and pool_cost == (36 if label == "dominant" else 36 * 64)
        maps = np.load(pool["regions"] / "train_regions.npy")
        for row in labels.to_pylist():
            k = int(np.flatnonzero(images == row["image_index"])[0])
            inside = maps[row["image_index"]] == row["region_id"]
            if label == "full":
                expect = gt[row["image_index"]][inside]
            else:
                expect = np.full(inside.sum(), IGNORE if row["dominant"] < 0 else row["dominant"])
            np.testing.assert_array_equal(targets[k][inside], expect)
        assert (targets != IGNORE).sum() <= 3 * 64


def test_multiclass_labels_list_the_classes_present_and_paint_single_class_regions(pool) -> None:
    tmp = pool["tmp"] / "multiclass"
    setting = {**params(initial=20), "label": {"type": "multiclass", "trim_kernel": 0}}
    labeling.run_init(setting, pool["prepared"], pool["regions"], tmp / "init")
    labeling.run_oracle(setting, 0, tmp / "init", pool["prepared"], pool["regions"],
                        tmp / "init", tmp / "labels")  # fmt: skip
    labels = read_table(tmp / "labels" / "labels.parquet", "labels")
    targets = np.load(tmp / "labels" / "targets.npy")
    images = np.load(tmp / "labels" / "target_images.npy")
    gt = PreparedDataset.open(pool["prepared"]).labels("train")
    maps = np.load(pool["regions"] / "train_regions.npy")
    assert 0 < labels.num_rows and sum(labels["cost"].to_pylist()) <= 20
    for row in labels.to_pylist():
        inside = maps[row["image_index"]] == row["region_id"]
        present = sorted(set(np.unique(gt[row["image_index"]][inside]).tolist()) - {IGNORE})
        assert row["classes"] == present and row["cost"] == len(present)
        k = int(np.flatnonzero(images == row["image_index"])[0])
        painted = present[0] if len(present) == 1 else IGNORE
        assert set(np.unique(targets[k][inside]).tolist()) == {painted}


def test_schedule_tops_up_to_cumulative_clicks(pool) -> None:
    """budget.schedule [5, 12]: round 0 takes 5 clicks, round 1 tops up by 12 - 5 = 7."""
    tmp, scheduled = pool["tmp"], params()
    scheduled["budget"] = {**scheduled["budget"], "rounds": 2, "schedule": [5, 12]}
    assert labeling.run_init(scheduled, pool["prepared"], pool["regions"], tmp / "init")[
        "clicks"] == 5  # fmt: skip
    labeling.run_oracle(scheduled, 0, tmp / "init", pool["prepared"], pool["regions"],
                        tmp / "init", tmp / "labels0")  # fmt: skip
    table = read_table(pool["regions"] / "regions.parquet", "regions")
    n = table.num_rows
    (tmp / "scores").mkdir()
    write_table(
        pa.table({"image_index": table["image_index"], "region_id": table["region_id"],
                  "score": np.linspace(0, 1, n, dtype=np.float32),
                  "pred_class": np.full(n, -1, np.int16),
                  "vector": pa.array([[]] * n, pa.list_(pa.float32()))}),
        tmp / "scores" / "scores.parquet", "scores",
    )  # fmt: skip
    write_json(tmp / "scores" / "meta.json", {"num_classes": 4, "class_prior": None})
    picked = labeling.run_select(scheduled, 1, tmp / "scores", tmp / "init", tmp / "labels0",
                                 pool["regions"], tmp / "q1")  # fmt: skip
    assert picked["clicks"] == 7 and picked["selected"] == 7
