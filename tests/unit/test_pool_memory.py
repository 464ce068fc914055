"""The pool readers that keep select and oracle memory flat in the pool size: one table column by
row groups, region rows without a key per row, targets written one image at a time (rows of a
.npy file on demand: ``storage.NpyRows``, tests/stages/test_sharded_scoring.py)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from alseg.labels import labelled_mask, save_targets, table_rows
from alseg.tables import (
    TableError,
    check_table,
    column_batches,
    empty_table,
    read_table,
    write_table,
)


def regions(image_index: list[int], region_id: list[int]) -> pa.Table:
    n = len(image_index)
    table = empty_table("regions").to_pydict()
    table.update(image_index=image_index, region_id=region_id, n_pixels=[1] * n,
                 y0=[0] * n, x0=[0] * n, y1=[1] * n, x1=[1] * n, neighbors=[[]] * n)  # fmt: skip
    return pa.table(table, schema=empty_table("regions").schema)


def keys(image_index: list[int], region_id: list[int]) -> pa.Table:
    return pa.table({"image_index": image_index, "region_id": region_id})


def test_column_batches_streams_one_column(tmp_path: Path) -> None:
    write_table(regions([0, 0, 1, 2, 2], [0, 1, 0, 0, 1]), tmp_path / "r.parquet", "regions")
    parts = list(column_batches(tmp_path / "r.parquet", "regions", "image_index", batch_rows=2))
    assert [p.tolist() for p in parts] == [[0, 0], [1, 2], [2]]
    with pytest.raises(TableError, match="expected a 'scores' table"):
        list(column_batches(tmp_path / "r.parquet", "scores", "score"))
    with pytest.raises(TableError, match="column 'bogus' missing"):
        list(column_batches(tmp_path / "r.parquet", "regions", "bogus"))
    table = read_table(tmp_path / "r.parquet", "regions", ["image_index", "region_id"])
    assert table.column_names == ["image_index", "region_id"]


def test_region_rows_direct_and_by_key() -> None:
    # compact ids per image: row of (i, r) = first row of image i + r
    table = regions([0, 0, 1, 2, 2], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(table_rows(table, keys([2, 0, 1], [1, 0, 0])), [4, 0, 2])
    np.testing.assert_array_equal(labelled_mask(table, keys([2], [0])), [0, 0, 0, 1, 0])
    # ids with a gap (image 0 has 0 and 5): the key search gives the same rows
    gaps = regions([0, 0, 1], [0, 5, 0])
    np.testing.assert_array_equal(table_rows(gaps, keys([1, 0], [0, 5])), [2, 1])
    # keys absent from the table (oracle: queries against earlier labels) are just not labelled
    np.testing.assert_array_equal(labelled_mask(gaps, keys([0, 3], [5, 9])), [0, 1, 0])


def test_save_targets_equals_np_save(tmp_path: Path) -> None:
    targets = np.array([[[255, 1]], [[2, 255]], [[3, 3]]], np.uint8)  # 4 labelled pixels
    np.save(tmp_path / "stacked.npy", targets)
    painted = save_targets(tmp_path / "streamed.npy", iter(targets), targets.shape)
    assert painted == 4
    assert (tmp_path / "streamed.npy").read_bytes() == (tmp_path / "stacked.npy").read_bytes()
    with pytest.raises(ValueError, match="wrote 2 targets, expected 3"):
        save_targets(tmp_path / "short.npy", iter(targets[:2]), targets.shape)


def test_check_table_reads_the_footer_only(tmp_path: Path) -> None:
    write_table(regions([0, 0], [0, 1]), tmp_path / "r.parquet", "regions")
    assert (
        check_table(tmp_path / "r.parquet", "regions").names == empty_table("regions").column_names
    )
    assert check_table(tmp_path / "r.parquet", "regions", ["n_pixels"]).names == ["n_pixels"]
    with pytest.raises(TableError, match="expected a 'labels' table v1, found 'regions' v1"):
        check_table(tmp_path / "r.parquet", "labels")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(TableError, match="not a readable Parquet table"):
        check_table(tmp_path / "bad.parquet", "regions")
