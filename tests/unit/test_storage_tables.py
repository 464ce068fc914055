"""alseg.storage (local side, no server) and alseg.tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alseg.storage import StorageError, atomic_path, exists, join, list_files, local_path, split_s3
from alseg.tables import TableError, read_table, write_row_groups, write_table


def test_atomic_path_leaves_old_file_and_no_temporaries_when_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_writes_a_new_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"  # the parent folder is created
    with atomic_path(target) as tmp:
        assert not target.exists()  # nothing visible until the block ends
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_path_replaces_a_folder_target(tmp_path: Path) -> None:
    target = tmp_path / "prepared"
    target.mkdir()
    (target / "stale.npy").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "fresh.npy").write_text("new")
        assert (target / "stale.npy").exists()  # the old folder is intact meanwhile
    assert sorted(p.name for p in target.iterdir()) == ["fresh.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_atomic_path_leaves_old_folder_when_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "prepared"
    target.mkdir()
    (target / "a.npy").write_text("old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.mkdir()
        raise ValueError("bad input")
    assert (target / "a.npy").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_atomic_path_block_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wrote nothing"), atomic_path(tmp_path / "x"):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.png", ("bucket", "a/b.png")),
        ("s3://bucket/data/", ("bucket", "data/")),
        ("s3://bucket", ("bucket", "")),
    ],
)
def test_split_s3(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3(uri) == expected


def test_split_s3_without_bucket_names_the_uri() -> None:
    with pytest.raises(StorageError, match=r"s3:///key: no bucket"):
        split_s3("s3:///key")


def test_join_s3_and_local() -> None:
    assert join("s3://b/data/", "train", "x.png") == "s3://b/data/train/x.png"
    assert join("s3://b", "classes.json") == "s3://b/classes.json"
    assert join("/data/camvid", "trainannot") == str(Path("/data/camvid/trainannot"))


def test_local_uris(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.png", "c.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "sub").mkdir()
    assert list_files(str(tmp_path), (".png",)) == [
        str(tmp_path / "a.png"),
        str(tmp_path / "b.PNG"),
    ]
    assert exists(str(tmp_path / "sub")) and not exists(str(tmp_path / "nope"))
    assert local_path(str(tmp_path / "c.txt")) == tmp_path / "c.txt"
    with pytest.raises(StorageError, match="nope: file not found"):
        local_path(str(tmp_path / "nope"))
    with pytest.raises(StorageError, match="nope: folder not found"):
        list_files(str(tmp_path / "nope"))


def scores() -> pa.Table:
    # extra column "note" is dropped; int64/float64 are cast to the schema's int32/float32
    return pa.table({
        "image_index": [0, 1], "region_id": [5, 7], "score": [0.5, 0.25], "pred_class": [-1, 2],
        "vector": [[], [0.5, 0.5]], "note": ["a", "b"],
    })  # fmt: skip


def test_write_then_read_table_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_table(scores(), path, "scores")
    table = read_table(path, "scores")
    assert table.column_names == ["image_index", "region_id", "score", "pred_class", "vector"]
    assert table.schema.field("image_index").type == pa.int32()
    assert table.schema.field("score").type == pa.float32()
    assert table.to_pydict() == {"image_index": [0, 1], "region_id": [5, 7], "score": [0.5, 0.25],
                                 "pred_class": [-1, 2], "vector": [[], [0.5, 0.5]]}  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]  # no temporaries


def test_read_table_of_another_kind_names_file_and_kinds(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_table(scores(), path, "scores")
    with pytest.raises(TableError) as info:
        read_table(path, "queries")
    message = str(info.value)
    assert str(path) in message and "'queries'" in message and "'scores'" in message


def test_read_table_of_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    with pytest.raises(TableError, match=r"labels\.parquet: labels table not found"):
        read_table(path, "labels")


def test_write_row_groups_buffers_tables_into_groups(tmp_path: Path) -> None:
    # tables of 3, 2, 4 and 1 rows, groups of >= 5 rows: [3 + 2], [4 + 1]
    schema = pa.schema([("x", pa.int32())])
    tables = [pa.table({"x": list(range(n))}, schema=schema) for n in (3, 2, 4, 1)]
    with pq.ParquetWriter(tmp_path / "t.parquet", schema) as writer:
        assert write_row_groups(writer, iter(tables), rows_per_group=5) == 10
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [5, 5]
    assert pq.read_table(tmp_path / "t.parquet")["x"].to_pylist() == [0, 1, 2, 0, 1, 0, 1, 2, 3, 0]
