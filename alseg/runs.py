"""Run identity and run status in MLflow (the driver side of ``alseg run`` / ``alseg sweep``).

A run is identified by its name and the hash of its config (``config_identity``, the name
excluded). ``claim_run`` looks at ``NAME``, ``NAME-2``, ``NAME-3``, ... in turn: the first parent
run with the same config hash is resumed (the pipeline's cache does the rest); the first free
name gets a new parent run. So a changed config under a used name never writes into the earlier
run's records; it becomes ``NAME-2`` (one line on the terminal says so).

``run_status`` ends the parent run FINISHED, FAILED (a task failed, or any error) or KILLED
(Ctrl-C / SIGTERM). ``check_reachable`` bounds how long an unreachable tracking server can
stall a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alseg import tracking
from alseg.secrets import redact

CONFIG_TAG = "alseg.config_hash"
MAX_SUFFIX = 100
# bounded MLflow HTTP retries for every process of a run (MLflow's defaults wait minutes)
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server cannot be reached; the message names the URI (redacted)."""


@dataclass(frozen=True)
class Claim:
    """The run a command writes into: its (possibly suffixed) name and MLflow parent run id."""

    name: str
    run_id: str
    resumed: bool


def config_identity(config: dict) -> str:
    """sha256 (16 hex digits) of the config without its ``name`` (the run name is the key)."""
    body = {k: v for k, v in config.items() if k != "name"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def candidate_names(run_name: str) -> Iterator[str]:
    """``NAME``, ``NAME-2``, ``NAME-3``, ... (at most MAX_SUFFIX)."""
    yield run_name
    for k in range(2, MAX_SUFFIX + 1):
        yield f"{run_name}-{k}"


def check_reachable(uri: str | None = None, timeout_s: float = 5.0, attempts: int = 3) -> None:
    """Raise TrackingUnavailable unless an ``http(s)`` tracking URI answers within
    ``attempts x timeout_s`` (any HTTP status counts as an answer); other URIs pass."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return
    error: Exception | None = None
    for _ in range(attempts):
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as err:
            error = err
    reason = getattr(error, "reason", error)
    raise TrackingUnavailable(
        redact(f"MLFLOW_TRACKING_URI={uri}: MLflow server unreachable after {attempts} "
               f"attempts ({reason})")
    )  # fmt: skip


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parent_of(client: Any, experiment_id: str, name: str) -> Any | None:
    return tracking._find(
        client, experiment_id,
        [f"tags.`{tracking.RUN_TAG}` = '{name}'", f"tags.`{tracking.ROUND_TAG}` = 'parent'"],
    )  # fmt: skip


def claim_run(run_name: str, experiment: str, config: dict, tags: dict[str, str]) -> Claim:
    """Resume the parent run of (name, config) or create one under the first free name."""
    identity = config_identity(config)
    client = tracking._client()
    experiment_id = tracking._experiment_id(client, experiment)
    for name in candidate_names(run_name):
        found = _parent_of(client, experiment_id, name)
        if found is None:
            tagged = {**tags, CONFIG_TAG: identity}
            run_id = tracking.parent_run(name, experiment, config=config, tags=tagged)
            return Claim(name, run_id, resumed=False)
        known = found.data.tags.get(CONFIG_TAG)
        if known in (identity, None):  # None: made before run identity existed; adopted
            client.set_tag(found.info.run_id, CONFIG_TAG, identity)
            client.update_run(found.info.run_id, status="RUNNING")
            return Claim(name, found.info.run_id, resumed=True)
    raise TrackingUnavailable(
        f"run name '{run_name}': {MAX_SUFFIX} runs with other configs already use it "
        f"(choose another --run-name)"
    )


def set_status(run_id: str, status: str) -> None:
    """End the parent run with ``status`` (FINISHED, FAILED or KILLED)."""
    tracking._client().set_terminated(run_id, status=status)


@contextlib.contextmanager
def run_status(run_ids: list[str]) -> Iterator[None]:
    """FINISHED when the block succeeds, KILLED on KeyboardInterrupt, FAILED on any error."""
    try:
        yield
    except KeyboardInterrupt:
        _end_all(run_ids, "KILLED")
        raise
    except BaseException:
        _end_all(run_ids, "FAILED")
        raise
    _end_all(run_ids, "FINISHED")


def _end_all(run_ids: list[str], status: str) -> None:
    for run_id in run_ids:
        with contextlib.suppress(Exception):  # never hide the run's own error
            set_status(run_id, status)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block (main thread only), so a terminated run
    ends KILLED like a Ctrl-C one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
