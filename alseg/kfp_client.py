"""A thin client of the KFP v2beta1 REST API (``kfp.Client``): submit, retry, status, schedule.

Torch-free (kfp, kfp-server-api and the standard library only), so a laptop with the client
install can submit. Every call resolves, before any request:

- **auth**: ``token`` (``--token`` / ``$KFP_TOKEN``, an existing bearer token), else the projected
  ServiceAccount token file at ``$KF_PIPELINES_SA_TOKEN_PATH`` (what kfp.Client's
  ``ServiceAccountTokenVolumeCredentials`` reads), else that file at its in-cluster default path
  when it exists, else no auth;
- **server facts** from ``GET /apis/v2beta1/healthz`` (``tag_name`` = backend version,
  ``multi_user``): multi-user mode needs a namespace and auth, a sweep needs backend >= 2.14 and
  a recurring run with per-run names >= 2.16 (``require``), each a ``ClusterError`` naming what is
  missing.

Server or connection failures become ``ClusterError`` naming the host and HTTP status.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import kfp

TOKEN_ENV = "KFP_TOKEN"
SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"  # kfp.client.KF_PIPELINES_SA_TOKEN_ENV
SA_TOKEN_DEFAULT = "/var/run/secrets/kubeflow/pipelines/token"  # kfp's in-cluster default
SA_AUDIENCE = "pipelines.kubeflow.org"
REQUEST_TIMEOUT_S = 30

# What a feature needs of the KFP backend (read from the KFP 2.x sources; README: supported
# versions). 2.14 is the supported minimum; a sweep (dsl.Collected over a ParallelFor of a nested
# pipeline) cannot run on anything older.
MIN_BACKEND = {
    "run": (2, 14),
    "sweep": (2, 14),
    "run-name macros": (2, 16),  # [[ScheduledTime]] formatted in v2 runtime parameters
}


class ClusterError(RuntimeError):
    """The KFP API server failed, could not be reached or cannot do what was asked."""


@dataclass(frozen=True)
class Auth:
    """How requests authenticate: ``token`` (literal), ``token_path`` (re-read per request)."""

    token: str | None = None
    token_path: str | None = None

    @property
    def source(self) -> str:
        if self.token:
            return "token"
        return f"ServiceAccount token file {self.token_path}" if self.token_path else "none"

    def header(self) -> str | None:
        """The current bearer token (a projected token file is rotated by the kubelet)."""
        if self.token:
            return self.token
        if self.token_path:
            try:
                return Path(self.token_path).read_text().strip() or None
            except OSError as err:
                raise ClusterError(
                    f"cannot read the ServiceAccount token {self.token_path}: {err.strerror}"
                ) from None
        return None


def resolve_auth(token: str | None = None) -> Auth:
    """``token`` > ``$KFP_TOKEN`` > ``$KF_PIPELINES_SA_TOKEN_PATH`` > the in-cluster default file.

    A ``$KF_PIPELINES_SA_TOKEN_PATH`` that names no file is an error (a mounted token is expected
    there); the default path is used only when it exists.
    """
    token = token or os.environ.get(TOKEN_ENV) or None
    if token:
        return Auth(token=token)
    path = os.environ.get(SA_TOKEN_ENV)
    if path:
        if not Path(path).is_file():
            raise ClusterError(
                f"{SA_TOKEN_ENV}={path} names no file; mount a projected ServiceAccount token "
                f"(audience {SA_AUDIENCE}) there, or pass --token"
            )
        return Auth(token_path=path)
    if Path(SA_TOKEN_DEFAULT).is_file():
        return Auth(token_path=SA_TOKEN_DEFAULT)
    return Auth()


@dataclass(frozen=True)
class ServerInfo:
    """``GET /apis/v2beta1/healthz``: backend version (``tag_name``) and mode."""

    version: tuple[int, ...] | None
    tag: str
    multi_user: bool


def parse_version(tag: str) -> tuple[int, ...] | None:
    """``"2.14.0"`` / ``"v2.16.1-rc.0"`` -> (2, 14, 0) / (2, 16, 1); ``"unknown"``/``"master"``
    -> None (a dev build tells no version)."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", tag or "")
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def check_host(host: str) -> str:
    if not re.match(r"https?://[^/\s]+", host or ""):
        raise ValueError(
            f"expected the KFP API URL with its scheme, e.g. http://localhost:8888, got {host!r}"
        )
    return host.rstrip("/")


def server_info(host: str, auth: Auth) -> ServerInfo:
    """One healthz request (no retry loop): fails at once on a bad host or token.

    The generated ``kfp_server_api`` model drops ``tag_name``, so the JSON is read directly.
    """
    import urllib3

    headers = {"Accept": "application/json"}
    bearer = auth.header()
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    url = f"{host}/apis/v2beta1/healthz"
    try:
        response = urllib3.request("GET", url, headers=headers, timeout=REQUEST_TIMEOUT_S,
                                   retries=False)  # fmt: skip
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise ClusterError(
            f"health check failed: cannot reach KFP server {host} ({type(err).__name__}); "
            "check the URL and the port-forward"
        ) from None
    if response.status != 200:
        detail = response.data.decode(errors="replace").strip()[:300]
        raise ClusterError(
            f"health check failed: KFP server {host} answered HTTP {response.status} "
            f"{response.reason}{': ' + detail if detail else ''}"
        )
    try:
        body = json.loads(response.data or b"{}")
    except ValueError:
        raise ClusterError(f"health check failed: {url} did not answer JSON") from None
    tag = str(body.get("tag_name") or "unknown")
    return ServerInfo(parse_version(tag), tag, bool(body.get("multi_user")))


def require(info: ServerInfo, feature: str, host: str) -> None:
    """A ``ClusterError`` when the backend is older than ``MIN_BACKEND[feature]``.

    A backend that reports no version (dev build) passes with a warning.
    """
    needed = MIN_BACKEND[feature]
    wanted = ".".join(map(str, needed))
    if info.version is None:
        warnings.warn(
            f"KFP server {host} reports no version ({info.tag!r}); {feature} needs >= {wanted}",
            stacklevel=2,
        )
        return
    if info.version < needed:
        raise ClusterError(
            f"KFP backend {info.tag} at {host} cannot run a {feature}: it needs KFP >= {wanted} "
            "(README: Run on a cluster, supported versions); upgrade Kubeflow Pipelines"
        )


def check_mode(
    info: ServerInfo, auth: Auth, namespace: str | None, host: str, creates: bool = True
) -> None:
    """Multi-user KFP rejects calls without auth, and experiments (``creates``) without a
    namespace; runs read or retried by id carry their namespace already."""
    if not info.multi_user:
        return
    missing = []
    if creates and not namespace:
        missing.append("--namespace (the Profile namespace runs go to)")
    if auth.source == "none":
        missing.append(
            f"auth: --token / ${TOKEN_ENV}, or a ServiceAccount token file at "
            f"${SA_TOKEN_ENV} (audience {SA_AUDIENCE})"
        )
    if missing:
        raise ClusterError(f"KFP server {host} is multi-user: pass " + " and ".join(missing))


@contextlib.contextmanager
def _server_errors(host: str, action: str):
    """Turn kfp_server_api / urllib3 failures into ``ClusterError`` (host, status, message)."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    try:
        yield
    except ApiException as err:
        body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body
        detail = f": {body.strip()[:300]}" if body else ""
        raise ClusterError(
            f"{action} failed: KFP server {host} answered HTTP {err.status} {err.reason}{detail}"
        ) from None
    except TimeoutError as err:  # kfp.Client's own healthz loop gave up (an OSError subclass)
        raise ClusterError(f"{action} failed: KFP server {host}: {err}") from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise ClusterError(
            f"{action} failed: cannot reach KFP server {host} ({type(err).__name__}); "
            "check the URL and the port-forward"
        ) from None


@dataclass
class Session:
    """A connected ``kfp.Client`` with what the server said about itself."""

    client: kfp.Client
    host: str
    info: ServerInfo
    namespace: str | None


def connect(
    host: str, token: str | None = None, namespace: str | None = None, creates: bool = True
) -> Session:
    """Health check, mode check, then a ``kfp.Client`` with the resolved auth and namespace."""
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    host = check_host(host)
    auth = resolve_auth(token)
    info = server_info(host, auth)
    check_mode(info, auth, namespace, host, creates)
    kwargs: dict[str, Any] = {"host": host, "namespace": namespace or "kubeflow"}
    if auth.token:
        kwargs["existing_token"] = auth.token
    elif auth.token_path:
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(auth.token_path)
    with _server_errors(host, "connecting"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return Session(kfp.Client(**kwargs), host, info, namespace)


def _quiet() -> contextlib.AbstractContextManager:
    """kfp.Client prints 'Experiment details: <link>' lines; keep library calls silent."""
    return contextlib.redirect_stdout(io.StringIO())


def run_url(host: str, run_id: str) -> str:
    """The KFP UI page of a run (same host as the API when reached through the UI's proxy)."""
    return f"{check_host(host)}/#/runs/details/{run_id}"


def _check_package(package_path: str | Path) -> str:
    path = Path(package_path)
    if not path.is_file():
        raise ValueError(
            f"pipeline package {path} not found; create it with `alseg compile` (or "
            "alseg.runner.compile_pipeline with a cluster profile) first"
        )
    return str(path)


def is_sweep_package(package_path: str | Path) -> bool:
    """A compiled sweep: a root ParallelFor over a pipeline input (its configs), gathered with
    ``dsl.Collected``. An experiment's loops (score shards) iterate over a task's output."""
    import yaml

    spec = next(yaml.safe_load_all(Path(package_path).read_text()))
    for task in spec.get("root", {}).get("dag", {}).get("tasks", {}).values():
        items = task.get("parameterIterator", {}).get("items", {}).get("inputParameter")
        source = task.get("inputs", {}).get("parameters", {}).get(items, {}) if items else {}
        if "componentInputParameter" in source:
            return True
    return False


def submit(
    package_path: str | Path,
    host: str,
    run_name: str,
    experiment: str = "alseg",
    pipeline_root: str | None = None,
    arguments: dict[str, Any] | None = None,
    enable_caching: bool | None = True,
    token: str | None = None,
    namespace: str | None = None,
    service_account: str | None = None,
) -> str:
    """Start a run of a compiled package (spec posted inline, no upload); return the run id.

    The experiment is created (in ``namespace``) if missing. ``enable_caching`` True/False
    overrides the compiled setting on every task, None keeps each task's compiled caching
    (``cluster.caching``); ``service_account`` runs the pods under that ServiceAccount.
    """
    package = _check_package(package_path)
    session = connect(host, token, namespace)
    require(session.info, "sweep" if is_sweep_package(package) else "run", session.host)
    with _server_errors(session.host, f"submitting run '{run_name}'"), _quiet():
        result = session.client.create_run_from_pipeline_package(
            package,
            arguments=arguments or {},
            run_name=run_name,
            experiment_name=experiment,
            namespace=namespace,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
            service_account=service_account,
        )
    return result.run_id


def retry(run_id: str, host: str, token: str | None = None, namespace: str | None = None) -> None:
    """Re-run the failed/terminated tasks of a run (``POST /apis/v2beta1/runs/{id}:retry``).

    The public ``kfp.Client`` has no retry method; this calls the generated
    ``RunServiceApi.run_service_retry_run`` it holds as ``client._run_api``.
    """
    session = connect(host, token, namespace, creates=False)
    with _server_errors(session.host, f"retrying run {run_id}"):
        session.client._run_api.run_service_retry_run(run_id, _request_timeout=REQUEST_TIMEOUT_S)


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _error_message(error: Any) -> str | None:
    """The message of a ``GoogleRpcStatus`` (None when there is no error)."""
    return (getattr(error, "message", None) or None) if error is not None else None


def status(
    run_id: str, host: str, token: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """State of a run: ``{run_id, name, state, created_at, finished_at, error, tasks}``.

    ``state`` is a KFP runtime state (PENDING, RUNNING, SUCCEEDED, FAILED, ...); ``tasks`` lists
    ``{name, state, started_at, finished_at, error}`` per task when the server reports them.
    """
    session = connect(host, token, namespace, creates=False)
    with _server_errors(session.host, f"reading run {run_id}"):
        run = session.client._run_api.run_service_get_run(
            run_id, _request_timeout=REQUEST_TIMEOUT_S
        )
    details = getattr(run, "run_details", None)
    tasks = [
        {
            "name": task.display_name,
            "state": task.state,
            "started_at": _iso(task.start_time),
            "finished_at": _iso(task.end_time),
            "error": _error_message(task.error),
        }
        for task in (getattr(details, "task_details", None) or [])
    ]
    return {
        "run_id": run.run_id,
        "name": run.display_name,
        "state": run.state,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "error": _error_message(run.error),
        "tasks": tasks,
    }


def six_field_cron(expression: str) -> str:
    """KFP's cron (robfig/cron, seconds first): a 5-field expression gets ``"0 "`` prepended.

    ``"0 3 * * 1"`` -> ``"0 0 3 * * 1"`` (03:00:00 every Monday); 6 fields pass unchanged, as do
    descriptors such as ``@daily`` or ``@every 6h``.
    """
    text = " ".join((expression or "").split())
    if text.startswith("@"):
        return text
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        return "0 " + text
    if len(fields) == 6:
        return text
    raise ValueError(
        f"expected a cron expression of 5 fields (min hour day month weekday) or 6 (seconds "
        f"first), got {len(fields)} in {expression!r}; e.g. '0 3 * * *' for 03:00 daily"
    )


def _uses_macros(arguments: dict[str, Any] | None) -> bool:
    return any(isinstance(v, str) and "[[" in v for v in (arguments or {}).values())


def schedule(
    package_path: str | Path,
    host: str,
    job_name: str,
    cron: str,
    experiment: str = "alseg",
    pipeline_root: str | None = None,
    arguments: dict[str, Any] | None = None,
    max_concurrency: int = 1,
    enable_caching: bool | None = None,
    token: str | None = None,
    namespace: str | None = None,
    service_account: str | None = None,
) -> str:
    """Create an enabled recurring run on a cron schedule; return the recurring run id.

    ``cron`` may have 5 or 6 fields (see ``six_field_cron``); missed intervals are not backfilled
    (``no_catchup``). String arguments may hold the backend's run macros (``[[ScheduledTime]]``),
    which need backend >= 2.16.
    """
    package = _check_package(package_path)
    cron6 = six_field_cron(cron)
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    session = connect(host, token, namespace)
    require(session.info, "sweep" if is_sweep_package(package) else "run", session.host)
    if _uses_macros(arguments):
        require(session.info, "run-name macros", session.host)
    with _server_errors(session.host, f"scheduling '{job_name}'"), _quiet():
        experiment_id = session.client.create_experiment(
            name=experiment, namespace=namespace
        ).experiment_id
        recurring = session.client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=job_name,
            cron_expression=cron6,
            max_concurrency=max_concurrency,
            no_catchup=True,
            params=arguments or {},
            pipeline_package_path=package,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
            service_account=service_account,
        )
    return recurring.recurring_run_id
