"""The score stage's batches: region statistics of each pool batch -> scores-table rows."""

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from alseg.acquisition.balanced import PriorAccumulator
from alseg.acquisition.policies import RegionStatistics, get_policy
from alseg.stages.model_stages import region_score_batches, statistics_rows
from alseg.tables import SCHEMAS, write_row_groups


class FixedLogits(torch.nn.Module):
    """Returns the same logits for every image: class 0 certain on the left half, uniform
    over 2 classes on the right half. Like DeepLabV3Plus it has a parameter (whose device
    to_input follows) and an input normalisation."""

    input_norm = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 2, x.shape[2], x.shape[3])
        logits[:, 0, :, : x.shape[3] // 2] = 50.0
        return logits


def _scores(tmp_path: Path, model, policy: str, region_maps: np.ndarray) -> dict:
    images = np.zeros((len(region_maps), *region_maps.shape[1:], 3), np.uint8)
    tables = region_score_batches(model, images, region_maps, get_policy(policy), 2, 7, "cpu",
                                  PriorAccumulator())  # fmt: skip
    with pq.ParquetWriter(tmp_path / "s.parquet", SCHEMAS["scores"]) as writer:
        rows = write_row_groups(writer, tables)
    table = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert rows == len(table)
    return {(r["image_index"], r["region_id"]): r["score"] for r in table}


def test_region_scores_match_hand_computation_across_batches(tmp_path: Path) -> None:
    # 3 images 2x4; region 0 = left half (entropy 0), region 1 = right half (entropy ln 2);
    # image 2 has a third region spanning one left and one right column (mean ln2 / 2).
    maps = np.array([[[0, 0, 1, 1]] * 2] * 3, np.int32)
    maps[2, :, 1:3] = 2
    scores = _scores(tmp_path, FixedLogits(), "entropy", maps)
    assert set(scores) == {(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)}
    assert scores[(0, 0)] == pytest.approx(0.0, abs=1e-6)
    assert scores[(1, 1)] == pytest.approx(math.log(2), rel=1e-5)
    assert scores[(2, 2)] == pytest.approx(math.log(2) / 2, rel=1e-5)


def test_statistics_rows_number_images_from_the_batch_start() -> None:
    # batches of 2, 1 and 2 images x 3 regions (NaN = absent), starting at images 0, 2 and 3
    nan = float("nan")
    batches = [
        RegionStatistics(torch.tensor([[0.1, nan, 0.2], [0.3, 0.4, nan]]),
                         vector=torch.arange(12.0).view(2, 3, 2)),
        RegionStatistics(torch.tensor([[nan, nan, 0.5]]), vector=torch.full((1, 3, 2), 7.0)),
        RegionStatistics(torch.tensor([[0.6, nan, nan], [nan, 0.7, nan]]),
                         vector=torch.full((2, 3, 2), 9.0)),
    ]  # fmt: skip
    tables = [
        statistics_rows(start, stats) for start, stats in zip((0, 2, 3), batches, strict=True)
    ]
    assert [len(t) for t in tables] == [4, 1, 2]
    rows = [row for t in tables for row in t.to_pylist()]
    assert [(r["image_index"], r["region_id"]) for r in rows] == [
        (0, 0), (0, 2), (1, 0), (1, 1), (2, 2), (3, 0), (4, 1)
    ]  # fmt: skip
    assert [r["score"] for r in rows] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert rows[1]["vector"] == [4.0, 5.0] and rows[4]["vector"] == [7.0, 7.0]
    assert rows[3]["pred_class"] == -1


def test_random_scores_cover_present_regions_and_repeat(tmp_path: Path) -> None:
    maps = np.array([[[0, 0, 1, 1]] * 2, [[0, 0, 0, 0]] * 2], np.int32)
    first = _scores(tmp_path, None, "random", maps)
    assert set(first) == {(0, 0), (0, 1), (1, 0)}  # image 1 has no region 1
    assert first == _scores(tmp_path, None, "random", maps)
