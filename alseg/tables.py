"""Parquet tables of the AL state (DESIGN.md section 3), with schemas and validated I/O.

Every table carries ``alseg.table`` and ``alseg.schema_version`` in its metadata; reading checks
both and the column types, so a stage never silently consumes the wrong table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alseg.storage import atomic_path

SCHEMA_VERSION = "1"

# fmt: off
SCHEMAS: dict[str, pa.Schema] = {
    "images": pa.schema([
        ("image_id", pa.string()), ("split", pa.string()), ("index", pa.int32()),
        ("image_uri", pa.string()), ("label_uri", pa.string()),
        ("height", pa.int32()), ("width", pa.int32()),
    ]),
    "regions": pa.schema([
        ("image_index", pa.int32()), ("region_id", pa.int32()), ("n_pixels", pa.int64()),
        ("y0", pa.int32()), ("x0", pa.int32()), ("y1", pa.int32()), ("x1", pa.int32()),
        ("neighbors", pa.list_(pa.int32())),
    ]),
    "scores": pa.schema([
        ("image_index", pa.int32()), ("region_id", pa.int32()), ("score", pa.float32()),
        ("pred_class", pa.int16()),  # -1 unless the policy needs it (classbal)
        ("vector", pa.list_(pa.float32())),  # per-class statistics, empty unless needed
    ]),
    "queries": pa.schema([
        ("round", pa.int32()), ("image_index", pa.int32()), ("region_id", pa.int32()),
        ("score", pa.float32()), ("rank", pa.int32()), ("cost", pa.int32()),
    ]),
    "labels": pa.schema([
        ("round", pa.int32()), ("image_index", pa.int32()), ("region_id", pa.int32()),
        ("label_type", pa.string()), ("dominant", pa.int16()),
        ("classes", pa.list_(pa.int16())), ("cost", pa.int32()),
    ]),
}
# fmt: on


def use_system_memory_pool() -> None:
    """pyarrow's buffers from the system allocator from now on in this process. Arrow's default
    (mimalloc) keeps freed blocks for reuse, per thread, so a CPU stage that has read a pool-size
    table keeps much of it resident (3,000 synthetic pool images, 2 threads: oracle peak
    200 -> 178 MB, select 379 -> 369 MB). The C++ readers keep the process default, which only
    ``ARROW_DEFAULT_MEMORY_POOL=system`` at process start changes (oracle 164, select 325 MB)."""
    pa.set_memory_pool(pa.system_memory_pool())


class TableError(ValueError):
    """A Parquet table is missing, of the wrong kind, or has wrong columns."""


def empty_table(kind: str) -> pa.Table:
    return SCHEMAS[kind].empty_table()


def write_table(table: pa.Table, path: str | Path, kind: str) -> None:
    """Cast ``table`` to the schema of ``kind`` and write it atomically."""
    schema = SCHEMAS[kind]
    table = table.select(schema.names).cast(schema)
    meta = {b"alseg.table": kind.encode(), b"alseg.schema_version": SCHEMA_VERSION.encode()}
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def check_table(path: str | Path, kind: str, columns: list[str] | None = None) -> pa.Schema:
    """The schema of a table written by ``write_table``, its kind, version and columns (only
    ``columns`` when given) checked from the file footer alone (no column is read)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: {kind} table not found")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as err:
        raise TableError(f"{path}: not a readable Parquet table ({err})") from None
    meta = schema.metadata or {}
    found = meta.get(b"alseg.table", b"?").decode()
    version = meta.get(b"alseg.schema_version", b"?").decode()
    if found != kind or version != SCHEMA_VERSION:
        raise TableError(
            f"{path}: expected a '{kind}' table v{SCHEMA_VERSION}, found '{found}' v{version}"
        )
    expected = SCHEMAS[kind]
    if columns is not None:
        unknown = [name for name in columns if name not in expected.names]
        if unknown:
            raise TableError(f"{path}: column {unknown[0]!r} missing from {expected.names}")
        expected = pa.schema([expected.field(name) for name in columns])
        schema = pa.schema([schema.field(n) for n in columns if n in schema.names])
    if not schema.remove_metadata().equals(expected):
        raise TableError(f"{path}: columns {schema.names} do not match {expected.names}")
    return schema


def read_table(path: str | Path, kind: str, columns: list[str] | None = None) -> pa.Table:
    """Read a table written by ``write_table`` and check its kind, version and columns;
    ``columns``: read only these, so a stage holds only the bytes it uses."""
    check_table(path, kind, columns)
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as err:
        raise TableError(f"{path}: not a readable Parquet table ({err})") from None


def table_batches(path: str | Path, kind: str, columns: list[str],
                  batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """``columns`` of a ``kind`` table in record batches of about ``batch_rows`` rows, in order,
    without holding the whole table (``check_table`` first)."""
    check_table(path, kind, columns)
    source = pq.ParquetFile(path)
    yield from source.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)


def buffered_batches(path: str | Path, kind: str, columns: list[str],
                     batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """``table_batches`` with each column chunk read through a 1 MiB buffer instead of whole
    (``pre_buffer`` off): less held for a table of large row groups (the regions table's 1 M
    rows, its keys: about 9 MB less at 6.1 M regions)."""
    check_table(path, kind, columns)
    source = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    yield from source.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)


def column_batches(path: str | Path, kind: str, column: str,
                   batch_rows: int = 65536) -> Iterator[np.ndarray]:  # fmt: skip
    """One column of a ``kind`` table as numpy arrays of about ``batch_rows`` rows, in order."""
    for batch in table_batches(path, kind, [column], batch_rows):
        yield batch.column(0).to_numpy()


def read_columns(path: str | Path, kind: str, columns: list[str]) -> dict[str, np.ndarray]:
    """Fixed-width ``columns`` of a ``kind`` table as numpy arrays, filled one record batch at a
    time: the process holds the arrays, not an Arrow copy of the table besides them."""
    rows = pq.ParquetFile(path).metadata.num_rows if Path(path).is_file() else 0
    out = {name: np.empty(rows, SCHEMAS[kind].field(name).type.to_pandas_dtype())
           for name in columns}  # fmt: skip
    start = 0
    for batch in table_batches(path, kind, columns):
        for name, column in zip(columns, batch.columns, strict=True):
            out[name][start : start + len(batch)] = column.to_numpy()
        start += len(batch)
    return out


def queries_table(round_index: int, image_index: np.ndarray, region_id: np.ndarray,
                  score: np.ndarray, cost: np.ndarray) -> pa.Table:  # fmt: skip
    """A round's queries in selection order (rank 0 first)."""
    n = len(image_index)
    return pa.table({
        "round": np.full(n, round_index, np.int32),
        "image_index": np.asarray(image_index).astype(np.int32),
        "region_id": np.asarray(region_id).astype(np.int32),
        "score": np.asarray(score).astype(np.float32),
        "rank": np.arange(n, dtype=np.int32),
        "cost": np.asarray(cost).astype(np.int32),
    })  # fmt: skip


def scores_table(image_index: np.ndarray, region_id: np.ndarray, score: np.ndarray,
                 pred_class: np.ndarray | None = None,
                 vector: np.ndarray | None = None) -> pa.Table:  # fmt: skip
    """Scores-table rows (n of them): pred_class (n,) (None = -1), vector (n, K) float (None =
    empty lists)."""
    n = len(image_index)
    width = 0 if vector is None else vector.shape[1]
    values = np.zeros(0, np.float32) if vector is None else vector.reshape(-1).astype(np.float32)
    return pa.table({
        "image_index": np.asarray(image_index).astype(np.int32),
        "region_id": np.asarray(region_id).astype(np.int32),
        "score": np.asarray(score).astype(np.float32),
        "pred_class": (np.full(n, -1) if pred_class is None else pred_class).astype(np.int16),
        "vector": pa.ListArray.from_arrays(np.arange(n + 1, dtype=np.int32) * width,
                                           pa.array(values, pa.float32())),
    }, schema=SCHEMAS["scores"])  # fmt: skip


def write_row_groups(writer: pq.ParquetWriter, tables: Iterable[pa.Table],
                     rows_per_group: int = 65536) -> int:  # fmt: skip
    """Stream ``tables`` into ``writer``, buffered into row groups of about ``rows_per_group``
    rows; returns the number of rows written."""
    rows, pending = 0, []
    for table in tables:
        pending.append(table)
        rows += len(table)
        if sum(map(len, pending)) >= rows_per_group:
            writer.write_table(pa.concat_tables(pending))
            pending = []
    if pending:
        writer.write_table(pa.concat_tables(pending))
    return rows
