"""alseg.storage and the prepare stage against a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from alseg import storage
from alseg.config import DataConfig
from alseg.stages import prepare
from alseg.storage import StorageError
from tests.conftest import write_folder_dataset
from tests.integration.s3server import S3Server, free_ports


def put(s3: S3Server, bucket: str, key: str, body: bytes) -> str:
    s3.client().put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def test_local_path_downloads_once_then_reads_the_cache(
    s3: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = put(s3, bucket, "dir/weights.bin", b"hello")
    first = storage.local_path(uri)
    assert first.read_bytes() == b"hello"
    assert first.is_relative_to(tmp_path / "cache") and first.suffix == ".bin"
    stamp = first.stat().st_mtime_ns

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("object downloaded again although it is cached")

    client = storage.s3_client()  # one client per endpoint/credentials: the one local_path uses
    with monkeypatch.context() as patch:
        patch.setattr(client, "get_object", no_download)
        patch.setattr(client, "download_file", no_download)
        second = storage.local_path(uri)
    assert second == first and second.stat().st_mtime_ns == stamp
    assert storage.read_bytes(uri) == b"hello"

    put(s3, bucket, "dir/weights.bin", b"changed")  # new ETag -> new cache file
    third = storage.local_path(uri)
    assert third != first and third.read_bytes() == b"changed"
    assert first.read_bytes() == b"hello"  # the old version's file is left as it was


def test_list_files_filters_suffixes_sorts_and_skips_subfolders(s3: S3Server, bucket: str) -> None:
    for key in ("data/b.png", "data/a.png", "data/A2.PNG", "data/c.txt", "data/sub/d.png"):
        put(s3, bucket, key, b"x")
    put(s3, bucket, "data/", b"")  # a zero-byte folder marker is not a file
    base = f"s3://{bucket}/data"
    # sorted by key: uppercase "A2.PNG" < "a.png" < "b.png"; suffixes match case-insensitively
    pngs = [f"{base}/A2.PNG", f"{base}/a.png", f"{base}/b.png"]
    assert storage.list_files(base, (".png",)) == pngs
    assert storage.list_files(base + "/", (".png",)) == pngs
    assert storage.list_files(base) == [*pngs[:1], *pngs[1:], f"{base}/c.txt"]
    with pytest.raises(StorageError, match=rf"s3://{bucket}/nothing: folder not found"):
        storage.list_files(f"s3://{bucket}/nothing")


def test_exists_for_objects_and_prefixes(s3: S3Server, bucket: str) -> None:
    put(s3, bucket, "data/train/img.png", b"x")
    assert storage.exists(f"s3://{bucket}/data/train/img.png")  # an object
    assert storage.exists(f"s3://{bucket}/data/train")  # a prefix ("folder")
    assert storage.exists(f"s3://{bucket}/data/")
    assert storage.exists(f"s3://{bucket}")  # the bucket itself
    assert not storage.exists(f"s3://{bucket}/data/val")
    assert not storage.exists(f"s3://{bucket}/dat")  # not a whole path component
    assert not storage.exists(f"s3://{bucket}/data/train/img")


def test_missing_bucket_is_reported_as_such(s3: S3Server) -> None:
    uri = "s3://no-such-bucket-alseg/data/a.png"
    for call in (storage.local_path, storage.exists, storage.list_files):
        with pytest.raises(StorageError) as info:
            call(uri)
        assert str(info.value) == f"{uri}: the bucket does not exist"


def test_missing_key_names_the_uri(s3: S3Server, bucket: str) -> None:
    uri = f"s3://{bucket}/data/missing.png"
    with pytest.raises(StorageError) as info:
        storage.local_path(uri)
    assert str(info.value) == f"{uri}: no such object"
    assert not list((Path(storage.cache_dir())).rglob("*.png"))  # nothing cached


def test_unreachable_endpoint_fails_fast(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    (port,) = free_ports(1)  # picked and closed again: nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    start = time.monotonic()
    with pytest.raises(StorageError) as info:
        storage.local_path("s3://data/a.png")
    elapsed = time.monotonic() - start
    assert str(info.value).startswith(f"s3://data/a.png: cannot reach S3 endpoint {endpoint}")
    assert elapsed < 10, f"took {elapsed:.1f} s: connection refused must not be retried for long"


def test_concurrent_reads_share_one_client(s3: S3Server, bucket: str) -> None:
    storage._clients.clear()  # threads race to build the first client
    uris = [put(s3, bucket, f"many/{i}.bin", bytes([i]) * (i + 1)) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(storage.read_bytes, uris))
    assert bodies == [bytes([i]) * (i + 1) for i in range(8)]
    assert len(storage._clients) == 1


def test_prepare_from_s3_matches_prepare_from_local_copy(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    local_root = write_folder_dataset(tmp_path / "data")  # 6 train + 3 val, 40x48, 4 classes
    for path in sorted(p for p in local_root.rglob("*") if p.is_file()):
        storage.upload_file(path, f"s3://{bucket}/data/{path.relative_to(local_root).as_posix()}")
    s3_root = f"s3://{bucket}/data"

    def config(root: str) -> DataConfig:
        return DataConfig(dataset="camvid", root=root, image_size=(20, 24), workers=2)

    from_s3 = prepare.run(config(s3_root), tmp_path / "from_s3")
    from_local = prepare.run(config(str(local_root)), tmp_path / "from_local")
    assert from_s3["splits"] == from_local["splits"] == {"train": 6, "val": 3}
    assert from_s3["classes"] == from_local["classes"] == 4  # from classes.json on S3

    a, b = tmp_path / "from_s3", tmp_path / "from_local"
    for split in ("train", "val"):
        for kind in ("images", "labels"):
            np.testing.assert_array_equal(
                np.load(a / f"{split}_{kind}.npy"), np.load(b / f"{split}_{kind}.npy")
            )
    assert json.loads((a / "meta.json").read_text()) == json.loads((b / "meta.json").read_text())
    table_s3, table_local = pq.read_table(a / "images.parquet"), pq.read_table(b / "images.parquet")
    uri_cols = ["image_uri", "label_uri"]
    assert table_s3.drop_columns(uri_cols).equals(table_local.drop_columns(uri_cols))
    for col in uri_cols:
        relative = [u.removeprefix(s3_root + "/") for u in table_s3[col].to_pylist()]
        expected = [
            Path(u).relative_to(local_root).as_posix() for u in table_local[col].to_pylist()
        ]
        assert relative == expected  # e.g. "train/img000.png" and "trainannot/img000.png"
