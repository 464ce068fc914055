"""The select stage's streamed path (policies that rank the stored score, read one record batch
at a time) writes the same queries table, byte for byte, as the whole-pool path (SelectPool),
on pools with ties, NaN scores, labelled regions, costs 0 / 1 / several, overshoot on and off,
the candidates forced to grow, and scores tables that are not in the regions' row order."""

import functools
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from alseg.acquisition import select as select_module
from alseg.acquisition.policies import get_policy, policy_names
from alseg.acquisition.policies.uncertainty import Measure, Random
from alseg.config import AcquisitionConfig
from alseg.stages import labeling
from alseg.stages.common import write_json
from alseg.tables import SCHEMAS, read_table, scores_table, write_table
from tests.conftest import prepare_pool

STREAMED = ["random", "entropy", "least_confidence", "margin", "bvsb"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict:
    tmp = prepare_pool(tmp_path_factory.mktemp("pool"), n_train=7, n_val=1, size=4)
    base = {
        "seed": 0,
        "label": {"type": "dominant"},
        "acquisition": AcquisitionConfig().model_dump(),
        "budget": {"initial_clicks": 60, "clicks_per_round": 90, "overshoot": False},
    }
    labeling.run_init(base, tmp / "prepared", tmp / "regions", tmp / "init")
    labeling.run_oracle(base, 0, tmp / "init", tmp / "prepared", tmp / "regions", tmp / "init",
                        tmp / "labels")  # fmt: skip
    return {"tmp": tmp, "base": base}


def test_exactly_the_policies_that_rank_the_stored_score_stream() -> None:
    streamed = [name for name in policy_names() if get_policy(name).ranks_score]
    assert sorted(streamed) == sorted(STREAMED)
    assert get_policy("oreal").select_stream(lambda: iter(()), 5, False) is None


def write_scores(tmp: Path, folder: str, rng: np.random.Generator, order=None) -> Path:
    """Scores of few distinct values (ties) with NaNs, in row order or permuted by ``order``."""
    table = read_table(tmp / "regions" / "regions.parquet", "regions")
    n = len(table)
    score = (rng.integers(0, 6, n) / 6).astype(np.float32)
    score[rng.random(n) < 0.15] = np.nan
    rows = np.arange(n) if order is None else order(n)
    out = tmp / folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    image, region = table["image_index"].to_numpy(), table["region_id"].to_numpy()
    write_table(scores_table(image[rows], region[rows], score[rows]), out / "scores.parquet",
                "scores")  # fmt: skip
    write_json(out / "meta.json", {"num_classes": 4, "class_prior": None})
    return out


def write_costs(tmp: Path, folder: str, rng: np.random.Generator, max_cost: int) -> Path:
    out = tmp / folder
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(tmp / "init", out)
    n = len(np.load(out / "costs.npy"))
    costs = np.ones(n, np.int32) if max_cost == 1 else rng.integers(0, max_cost + 1, n, np.int32)
    np.save(out / "costs.npy", costs)
    return out


def run_both(tmp: Path, params: dict, scores: Path, init: Path) -> tuple:
    """(streamed summary, its queries bytes, whole-pool summary, its queries bytes, how many of
    the two runs built the whole pool)."""
    results, built, statistics = [], [], labeling._pool_statistics
    for streamed in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            for cls in (Random, Measure):
                patch.setattr(cls, "ranks_score", streamed)
            patch.setattr(labeling, "_pool_statistics",
                          lambda *args: built.append(1) or statistics(*args))  # fmt: skip
            out = tmp / f"queries_{streamed}"
            shutil.rmtree(out, ignore_errors=True)
            summary = labeling.run_select(params, 1, scores, init, tmp / "labels",
                                          tmp / "regions", out)  # fmt: skip
        results += [summary, (out / "queries.parquet").read_bytes()]
    return (*results, len(built))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("overshoot", [False, True])
def test_streamed_select_writes_the_whole_pool_paths_queries(
    pool, monkeypatch, seed: int, overshoot: bool
) -> None:
    tmp = pool["tmp"]
    rng = np.random.default_rng(seed)
    policy = STREAMED[seed % len(STREAMED)]
    max_cost = [1, 0, 3, 1][seed % 4]  # costs 1, 0 (the walk runs off: k grows), 0 to 3
    params = {**pool["base"], "acquisition": AcquisitionConfig(policy=policy).model_dump(),
              "budget": {**pool["base"]["budget"], "overshoot": overshoot,
                         "clicks_per_round": int(rng.integers(1, 300))}}  # fmt: skip
    scores = write_scores(tmp, "scores", rng)
    init = write_costs(tmp, "init_costs", rng, max_cost)
    with monkeypatch.context() as patch:
        patch.setattr(labeling, "STREAM_ROWS", int(rng.integers(5, 200)))  # several batches
        k = int(rng.integers(1, 40))  # few candidates: cut often, grow 4x when the walk runs off
        patch.setattr(select_module, "select_streaming",
                      functools.partial(select_module.select_streaming, k=k))  # fmt: skip
        streamed, streamed_bytes, whole, whole_bytes, built = run_both(tmp, params, scores, init)
    assert built == 1  # the whole-pool run only
    assert streamed == whole
    assert streamed_bytes == whole_bytes
    queries = read_table(tmp / "queries_True" / "queries.parquet", "queries")
    assert len(queries) == streamed["selected"] > 0


def test_scores_not_in_row_order_take_the_whole_pool_path(pool) -> None:
    tmp = pool["tmp"]
    rng = np.random.default_rng(1)
    params = {**pool["base"], "acquisition": AcquisitionConfig(policy="entropy").model_dump()}
    for order in (lambda n: rng.permutation(n), lambda n: np.arange(n - 5)):  # shuffled, fewer
        scores = write_scores(tmp, "scores_shuffled", rng, order)
        streamed, streamed_bytes, whole, whole_bytes, built = run_both(tmp, params, scores,
                                                                       tmp / "init")  # fmt: skip
        assert built == 2  # both runs built the whole pool
        assert streamed == whole and streamed_bytes == whole_bytes


def test_streamed_select_holds_no_pool_size_array(pool, monkeypatch) -> None:
    """The streamed path never builds the SelectPool (nor reads the regions keys whole)."""
    tmp = pool["tmp"]
    params = {**pool["base"], "acquisition": AcquisitionConfig(policy="entropy").model_dump()}
    scores = write_scores(tmp, "scores", np.random.default_rng(2))

    def fail(*args, **kwargs):
        raise AssertionError("whole-pool path taken")

    monkeypatch.setattr(labeling, "_pool_statistics", fail)
    monkeypatch.setattr(labeling, "read_columns", fail)
    summary = labeling.run_select(params, 1, scores, tmp / "init", tmp / "labels",
                                  tmp / "regions", tmp / "queries_streamed")  # fmt: skip
    assert summary["clicks"] == 90


def regions_file(tmp: Path, image_index: list[int], region_id: list[int]) -> Path:
    n = len(image_index)
    columns = {"image_index": image_index, "region_id": region_id, "n_pixels": [1] * n,
               "y0": [0] * n, "x0": [0] * n, "y1": [1] * n, "x1": [1] * n,
               "neighbors": [[]] * n}  # fmt: skip
    path = tmp / "regions.parquet"
    write_table(pa.table(columns, schema=SCHEMAS["regions"]), path, "regions")
    return path


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_image_offsets_of_the_regions_stage_order(tmp_path: Path, monkeypatch, rows: int) -> None:
    monkeypatch.setattr(labeling, "STREAM_ROWS", rows)
    path = regions_file(tmp_path, [0, 0, 0, 2, 2, 3, 5], [0, 1, 2, 0, 1, 0, 0])  # no 1, no 4
    assert labeling._image_offsets(path).tolist() == [0, 3, 3, 5, 6, 6, 7]
    for image, region in [
        ([0, 0, 1], [0, 2, 0]),  # an id missing
        ([0, 0, 1], [1, 0, 0]),  # ids out of order
        ([1, 1, 0], [0, 1, 0]),  # images out of order
        ([0, 1, 0], [0, 0, 1]),  # an image in two runs
        ([0, 0, 0, 0], [0, 1, 0, 1]),  # ids start again inside an image
    ]:
        assert labeling._image_offsets(regions_file(tmp_path, image, region)) is None, image


def test_labels_that_name_no_region_take_the_whole_pool_path(tmp_path: Path) -> None:
    offsets = np.array([0, 3, 3, 5])
    keys = {"image_index": [0, 2, 0], "region_id": [2, 1, 0]}
    assert labeling._rows_of(pa.table(keys), offsets).tolist() == [0, 2, 4]
    for image, region in [([1], [0]), ([3], [0]), ([0], [3]), ([0], [-1]), ([-1], [0])]:
        assert labeling._rows_of(pa.table({"image_index": image, "region_id": region}),
                                 offsets) is None  # fmt: skip
