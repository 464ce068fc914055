"""Reading inputs by URI (local path or ``s3://bucket/key``) and writing outputs atomically.

S3 access uses boto3 (imported lazily), the endpoint from ``AWS_ENDPOINT_URL`` / ``S3_ENDPOINT_URL``
and credentials from the standard AWS environment; objects are cached under ``ALSEG_CACHE``
(default ``~/.cache/alseg``) keyed by bucket, key and ETag. Requests fail fast when the endpoint
cannot be reached: 3 s connect timeout and 3 attempts (``AWS_MAX_ATTEMPTS`` overrides).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from alseg import faults

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 60
_CLIENT_ENV = (
    "AWS_ENDPOINT_URL",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_MAX_ATTEMPTS",
)
_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()
TEMP_MARK = "tmp-"  # atomic_path's temporary folders: .NAME.tmp-PID-XXXX next to the target
_publish_depth = [0]  # nesting of atomic_path blocks (the outermost one publishes a stage output)


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


def artifact_uri(uri: str) -> str:
    """A KFP artifact's URI as a storage URI: ``minio://B/K`` (KFP's MinIO scheme) ->
    ``s3://B/K``; ``s3://`` and local paths unchanged."""
    return "s3://" + uri[len("minio://") :] if uri.startswith("minio://") else uri


def join(base: str, *parts: str) -> str:
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


def cache_dir() -> Path:
    return Path(os.environ.get("ALSEG_CACHE", Path.home() / ".cache" / "alseg"))


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_URL")


def s3_client() -> Any:
    """A boto3 S3 client for the current environment, created once per endpoint/credentials.

    Clients are thread-safe once built, but building them from the shared default session is
    not, so they are built under a lock from a fresh session and reused.
    """
    key = tuple(os.environ.get(name) for name in _CLIENT_ENV)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3.session
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard"},  # 3 attempts unless AWS_MAX_ATTEMPTS says otherwise
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
            )
            session = boto3.session.Session()
            client = session.client("s3", endpoint_url=_endpoint(), config=config)
            _clients[key] = client
    return client


def _client_error(uri: str, err: Exception) -> StorageError:
    """A StorageError naming ``uri`` for a boto3/botocore exception."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "?")
        hint = {
            "NoSuchBucket": "the bucket does not exist",
            "NoSuchKey": "no such object",
            "404": "no such object",
            "403": "access denied (check AWS credentials)",
            "AccessDenied": "access denied (check AWS credentials)",
            "InvalidAccessKeyId": "unknown access key (check AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "bad secret key (check AWS_SECRET_ACCESS_KEY)",
        }.get(code, f"S3 error {code}: {err}")
        return StorageError(f"{uri}: {hint}")
    if isinstance(err, NoCredentialsError):
        return StorageError(
            f"{uri}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(err, ConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return StorageError(f"{uri}: cannot reach S3 endpoint {_endpoint() or '(AWS)'}: {err}")
    return StorageError(f"{uri}: S3 request to {_endpoint() or '(AWS)'} failed: {err}")


def _s3_call(uri: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a boto3 function, turning boto3/botocore errors into StorageError naming the URI."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except (ClientError, BotoCoreError, Boto3Error) as err:
        raise _client_error(uri, err) from None


def _is_not_found(err: Exception) -> bool:
    from botocore.exceptions import ClientError

    code = err.response.get("Error", {}).get("Code") if isinstance(err, ClientError) else None
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def _check_bucket(uri: str, client: Any, bucket: str) -> None:
    """StorageError 'the bucket does not exist' when ``bucket`` is missing (HEAD has no body,
    so a missing bucket and a missing key both come back as a bare 404)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as err:
        if _is_not_found(err):
            raise StorageError(f"{uri}: the bucket does not exist") from None
        raise _client_error(uri, err) from None


def _head(uri: str, client: Any, bucket: str, key: str) -> dict | None:
    """HEAD of an object, or None if the key does not exist (bucket checked)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as err:
        if not _is_not_found(err):
            raise _client_error(uri, err) from None
    _check_bucket(uri, client, bucket)
    return None


def _cache_path(uri: str, bucket: str, key: str, etag: str) -> Path:
    """``CACHE/s3/BUCKET/DIR/STEM.ETAG.SUFFIX``: keeps the suffix, one file per object version."""
    key_path = PurePosixPath(key)
    if key.endswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"{uri}: cannot cache an S3 key with empty, '.' or '..' parts")
    name = f"{key_path.stem}.{etag}{key_path.suffix}"
    return cache_dir() / "s3" / bucket / key_path.parent / name


def local_path(uri: str) -> Path:
    """A local file for ``uri``: the path itself, or a cached download of the S3 object.

    The cache file is named by the object's ETag, so a changed object is downloaded again and
    an unchanged one is read from the cache with a single HEAD request.
    """
    if not is_s3(uri):
        path = Path(uri)
        if not path.exists():
            raise StorageError(f"{uri}: file not found")
        _bytes_read[0] += path.stat().st_size if path.is_file() else 0
        return path
    bucket, key = split_s3(uri)
    if not key:
        raise StorageError(f"{uri}: no object key in S3 URI (expected s3://BUCKET/KEY)")
    client = s3_client()
    head = _head(uri, client, bucket, key)
    if head is None:
        raise StorageError(f"{uri}: no such object")
    target = _cache_path(uri, bucket, key, head["ETag"].strip('"'))
    _bytes_read[0] += int(head["ContentLength"])
    if target.is_file():
        return target
    # GET once and name the file by the ETag of the bytes received, so an object overwritten
    # between HEAD and GET never ends up cached under the old ETag.
    response = _s3_call(uri, client.get_object, Bucket=bucket, Key=key)
    target = _cache_path(uri, bucket, key, response["ETag"].strip('"'))
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        _s3_call(uri, shutil.copyfileobj, response["Body"], out, 1 << 20)
    return target


def local_file(folder: str | Path, name: str) -> Path:
    """``local_path`` of the file ``name`` in ``folder`` (a local folder or an s3:// prefix)."""
    return local_path(join(str(folder), name))


def read_bytes(uri: str) -> bytes:
    return local_path(uri).read_bytes()


def list_files(uri: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Sorted URIs of the files directly under a folder URI (optionally filtered by suffix).

    On S3 a folder is a key prefix; a prefix with no keys at all is "folder not found", like a
    missing local folder, and zero-byte ``folder/`` marker objects are not files.
    """
    if not is_s3(uri):
        folder = Path(uri)
        if not folder.is_dir():
            raise StorageError(f"{uri}: folder not found")
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        return [str(folder / n) for n in names if not suffixes or n.lower().endswith(suffixes)]
    bucket, prefix = split_s3(uri.rstrip("/") + "/")
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    pages = _s3_call(
        uri, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"))
    )
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    subfolders = [p for page in pages for p in page.get("CommonPrefixes", [])]
    if prefix and not keys and not subfolders:
        raise StorageError(f"{uri}: folder not found")
    keys = [k for k in sorted(keys) if not k.endswith("/")]
    keys = [k for k in keys if not suffixes or k.lower().endswith(suffixes)]
    return [f"s3://{bucket}/{k}" for k in keys]


def exists(uri: str) -> bool:
    """True if ``uri`` is a file or a folder (on S3: an object, or a prefix holding objects).

    A missing S3 bucket or an unreachable endpoint raises StorageError instead of returning
    False, so a typo in the bucket name is reported as such.
    """
    if not is_s3(uri):
        return Path(uri).exists()
    bucket, key = split_s3(uri)
    client = s3_client()
    if key and not key.endswith("/") and _head(uri, client, bucket, key) is not None:
        return True
    if not key:
        _check_bucket(uri, client, bucket)
        return True
    prefix = key.rstrip("/") + "/"
    page = _s3_call(uri, client.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return page.get("KeyCount", 0) > 0


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
    ``target`` by rename, so readers never see a half-written output. An old folder target is
    first renamed aside (into the temporary folder, deleted afterwards), so it is never seen
    half-deleted. If the block raises, ``target`` is untouched and the temporary is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{TEMP_MARK}{os.getpid()}-"
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent)) / target.name
    _publish_depth[0] += 1
    try:
        yield tmp
        if not tmp.exists() and not tmp.is_symlink():
            raise FileNotFoundError(f"{target}: the block wrote nothing at {tmp}")
        if _publish_depth[0] == 1:
            faults.reached("publish")  # resume tests: die with the output complete but unpublished
        if target.is_dir() and not target.is_symlink():
            os.replace(target, tmp.parent / f"{target.name}.old")
        os.replace(tmp, target)
    finally:
        _publish_depth[0] -= 1
        shutil.rmtree(tmp.parent, ignore_errors=True)


def ensure_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check a file can be created in it; StorageError naming
    the folder otherwise (read-only mount, missing permission, a file in the way)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".alseg-write-check."):
            pass
    except OSError as err:
        raise StorageError(f"{folder}: not writable ({err.strerror or err})") from None
    return folder


def remove_stale_temps(root: str | Path) -> int:
    """Delete ``atomic_path`` temporaries under ``root`` whose writing process is gone (killed
    mid-stage); returns how many. Temporaries of live processes (concurrent runs) are kept."""
    removed = 0
    for folder in Path(root).rglob(f".*.{TEMP_MARK}*"):
        pid = folder.name.rsplit(TEMP_MARK, 1)[-1].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_within(root: str, uri: str) -> None:
    """StorageError naming ``uri`` when it lies outside ``root`` (a ``..`` part, or a symlink
    or absolute path leading out of a local root), so a dataset cannot read other files."""
    if is_s3(root) or is_s3(uri):
        inside = uri.startswith(root.rstrip("/") + "/") and ".." not in uri.split("/")
    else:
        inside = Path(uri).resolve().is_relative_to(Path(root).resolve())
    if not inside:
        raise StorageError(f"{uri}: path escapes the dataset root {root}")


# ----------------------------------------------------------------------------- ranged reads

_bytes_read = [0]  # bytes returned by read_bytes / read_range since start or the last reset


def bytes_read(reset: bool = False) -> int:
    """Bytes a task took through alseg.storage so far (``reset``: and start counting again at
    0): the whole size of every file asked for with ``local_path`` / ``read_bytes`` (a download
    on S3) plus every ``read_range``."""
    total = _bytes_read[0]
    if reset:
        _bytes_read[0] = 0
    return total


def read_range(uri: str, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of a local file or an S3 object (one ranged GET; no download of
    the rest). Counted by ``bytes_read``."""
    if stop <= start:
        return b""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = s3_client()
        response = _s3_call(uri, client.get_object, Bucket=bucket, Key=key,
                            Range=f"bytes={start}-{stop - 1}")  # fmt: skip
        data = _s3_call(uri, response["Body"].read)
    else:
        try:
            with open(uri, "rb") as f:
                f.seek(start)
                data = f.read(stop - start)
        except FileNotFoundError:
            raise StorageError(f"{uri}: file not found") from None
    if len(data) != stop - start:
        raise StorageError(f"{uri}: expected bytes {start}-{stop - 1}, got {len(data)} bytes")
    _bytes_read[0] += len(data)
    return data


class NpyRows:
    """Rows of a C-ordered ``.npy`` file (local path or S3 URI) read on demand: ``rows[a:b]``
    reads only their bytes (header once, then one ranged read per slice). Array-like enough
    for the streaming stages: ``shape``, ``dtype``, ``len``, ``[slice]`` / ``[int]``."""

    def __init__(self, uri: str) -> None:
        import io

        import numpy as np

        head = read_range(uri, 0, 16)  # magic (6) + version (2) + header length (2 or 4)
        if head[:6] != b"\x93NUMPY":
            raise StorageError(f"{uri}: not a .npy file")
        size = int.from_bytes(head[8:10] if head[6] == 1 else head[8:12], "little")
        offset = (10 if head[6] == 1 else 12) + size
        header = io.BytesIO(head + read_range(uri, 16, offset))
        read = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[np.lib.format.read_magic(header)]
        shape, fortran, dtype = read(header)
        if fortran:
            raise StorageError(f"{uri}: Fortran-ordered .npy is not supported")
        self.uri, self.shape, self.dtype, self.offset = uri, tuple(shape), dtype, offset
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def window(self, rows: slice) -> NpyRows:
        """The rows ``rows`` (contiguous) as their own NpyRows (nothing read)."""
        start, stop, _ = rows.indices(len(self))
        view = object.__new__(NpyRows)
        view.__dict__.update(self.__dict__, offset=self.offset + start * self.row_bytes,
                             shape=(max(stop - start, 0), *self.shape[1:]))  # fmt: skip
        return view

    def __getitem__(self, index: slice | int):  # -> np.ndarray
        import numpy as np

        if isinstance(index, int | np.integer):
            return self[int(index) : int(index) + 1][0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise IndexError(f"{self.uri}: only contiguous row slices are read")
        stop = max(stop, start)
        data = read_range(self.uri, self.offset + start * self.row_bytes,
                          self.offset + stop * self.row_bytes)  # fmt: skip
        return np.frombuffer(data, self.dtype).reshape(stop - start, *self.shape[1:])

    def take(self, rows):  # rows: np.ndarray (K,) int, ascending -> np.ndarray (K, ...)
        """The rows ``rows`` (ascending indices), one ranged read per run of consecutive
        indices."""
        import numpy as np

        rows = np.asarray(rows, np.int64)
        out = np.empty((rows.size, *self.shape[1:]), self.dtype)
        if not rows.size:
            return out
        if np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= len(self):
            raise IndexError(f"{self.uri}: rows must be ascending indices in 0 .. {len(self) - 1}")
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        stops = np.append(starts[1:], rows.size)
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):  # one read per run
            out[a:b] = self[int(rows[a]) : int(rows[b - 1]) + 1]
        return out
