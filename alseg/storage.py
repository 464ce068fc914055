"""Reading inputs by URI (local path or ``s3://bucket/key``) and writing outputs atomically.

S3 access uses boto3 (imported lazily), the endpoint from ``AWS_ENDPOINT_URL`` / ``S3_ENDPOINT_URL``
and credentials from the standard AWS environment; objects are cached under ``ALSEG_CACHE``
(default ``~/.cache/alseg``) keyed by bucket, key and ETag.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class StorageError(OSError):
    """A URI cannot be read; the message names the URI and the cause."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket in S3 URI (expected s3://BUCKET/KEY)")
    return bucket, key


def join(base: str, *parts: str) -> str:
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


def cache_dir() -> Path:
    return Path(os.environ.get("ALSEG_CACHE", Path.home() / ".cache" / "alseg"))


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_URL")
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def _s3_call(uri: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a boto3 function, turning client errors into StorageError naming the URI."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        hint = {
            "NoSuchBucket": "the bucket does not exist",
            "NoSuchKey": "no such object",
            "404": "no such object",
            "403": "access denied (check AWS credentials)",
            "AccessDenied": "access denied (check AWS credentials)",
        }.get(code, code)
        raise StorageError(f"{uri}: {hint}") from None
    except BotoCoreError as err:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_URL")
        raise StorageError(
            f"{uri}: cannot reach S3 endpoint {endpoint or '(default)'}: {err}"
        ) from None


def local_path(uri: str) -> Path:
    """A local file for ``uri``: the path itself, or a cached download of the S3 object."""
    if not is_s3(uri):
        path = Path(uri)
        if not path.exists():
            raise StorageError(f"{uri}: file not found")
        return path
    bucket, key = split_s3(uri)
    client = s3_client()
    head = _s3_call(uri, client.head_object, Bucket=bucket, Key=key)
    etag = head["ETag"].strip('"')
    target = cache_dir() / "s3" / bucket / f"{key}.{etag}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            _s3_call(uri, client.download_file, bucket, key, str(tmp))
    return target


def read_bytes(uri: str) -> bytes:
    return local_path(uri).read_bytes()


def list_files(uri: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Sorted URIs of the files directly under a folder URI (optionally filtered by suffix)."""
    if not is_s3(uri):
        folder = Path(uri)
        if not folder.is_dir():
            raise StorageError(f"{uri}: folder not found")
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        return [str(folder / n) for n in names if not suffixes or n.lower().endswith(suffixes)]
    bucket, prefix = split_s3(uri.rstrip("/") + "/")
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    keys: list[str] = []
    pages = _s3_call(
        uri, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"))
    )
    for page in pages:
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    keys = [k for k in sorted(keys) if not suffixes or k.lower().endswith(suffixes)]
    return [f"s3://{bucket}/{k}" for k in keys]


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return Path(uri).exists()
    bucket, key = split_s3(uri)
    client = s3_client()
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        pages = client.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
        return pages.get("KeyCount", 0) > 0


def upload_file(path: str | Path, uri: str, attempts: int = 3) -> None:
    bucket, key = split_s3(uri)
    client = s3_client()
    for attempt in range(attempts):
        try:
            _s3_call(uri, client.upload_file, str(path), bucket, key)
            return
        except StorageError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * 2**attempt)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``target`` only if the block succeeds.

    Works for files and folders: whatever the block writes at the yielded path replaces
    ``target`` in one rename, so readers never see a half-written output.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / target.name
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
