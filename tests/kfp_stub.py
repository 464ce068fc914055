"""A local stand-in for the KFP v2beta1 REST API server that records every request.

Only the endpoints ``alseg.kfp_client`` reaches through ``kfp.Client`` 2.17 are answered, with the
shapes of the generated ``kfp_server_api`` models (snake_case JSON keys):

- ``GET  /apis/v2beta1/healthz``                -> V2beta1GetHealthzResponse
- ``GET  /apis/v2beta1/experiments?filter=...`` -> V2beta1ListExperimentsResponse
- ``POST /apis/v2beta1/experiments``            -> V2beta1Experiment
- ``POST /apis/v2beta1/runs``                   -> V2beta1Run (pipeline spec posted inline)
- ``GET  /apis/v2beta1/runs/{run_id}``          -> V2beta1Run
- ``POST /apis/v2beta1/runs/{run_id}:retry``    -> {} (empty object)
- ``POST /apis/v2beta1/recurringruns``          -> V2beta1RecurringRun

Unknown paths get 404 with a ``GoogleRpcStatus`` body. ``fail_on`` makes a path answer an error
status. Healthz answers the raw JSON of the API server's HTTP handler (``tag_name`` = backend
version, ``multi_user``). With ``multi_user=True`` the stub behaves as KFP's multi-user mode does
for these calls: every call but healthz without an ``Authorization`` header gets 401, listing or
creating an experiment without a namespace gets 400.
Bounded: at most ``max_requests`` requests are served (later ones get 429), request bodies
over ``MAX_BODY`` bytes are refused (413), and sockets time out after 10 s.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"
MAX_BODY = 32 * 1024 * 1024
CREATED_AT = "2025-01-02T03:04:05Z"


@dataclass
class Recorded:
    """One request as the stub saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class KfpStub:
    """``with KfpStub() as stub: ... stub.url ... stub.requests``; stops on exit."""

    def __init__(
        self, max_requests: int = 200, multi_user: bool = False, tag_name: str = "2.17.0"
    ) -> None:
        self.max_requests = max_requests
        self.multi_user = multi_user
        self.tag_name = tag_name
        self.requests: list[Recorded] = []
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self.failures: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ----------------------------------------------------------------- lifecycle / controls
    def __enter__(self) -> KfpStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def fail_on(self, method: str, path_prefix: str, status: int = 500) -> None:
        """Answer ``status`` to every ``method`` request whose path starts with the prefix."""
        self.failures.append((method, path_prefix, status))

    def set_run(self, run_id: str, **fields: Any) -> None:
        """Change a stored run (e.g. ``state="FAILED"``, ``run_details={...}``)."""
        self.runs[run_id].update(fields)

    def find(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method and exact path (query string excluded)."""
        return [r for r in self.requests if r.method == method and r.path == path]

    # ----------------------------------------------------------------- routing
    def _multi_user_rejection(
        self, method: str, path: str, query: dict, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any] | None:
        """What the multi-user API server refuses (auth first, then a missing namespace)."""
        if path == f"{API}/healthz":
            return None
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"code": 16, "message": "Unauthenticated: no bearer token"}
        if (method, path) == ("GET", f"{API}/experiments") and not query.get("namespace"):
            return 400, {"code": 3, "message": "Invalid input error: namespace is empty"}
        if (method, path) == ("POST", f"{API}/experiments") and not (body or {}).get("namespace"):
            return 400, {"code": 3, "message": "Invalid input error: namespace is empty"}
        return None

    def _route(
        self, method: str, path: str, query: dict, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        for fail_method, prefix, status in self.failures:
            if method == fail_method and path.startswith(prefix):
                return status, {"code": 13, "message": f"stub failure on {path}"}
        if self.multi_user:
            rejected = self._multi_user_rejection(method, path, query, body, headers or {})
            if rejected:
                return rejected
        if (method, path) == ("GET", f"{API}/healthz"):
            return 200, {
                "commit_sha": "stub",
                "tag_name": self.tag_name,
                "multi_user": self.multi_user,
                "pipeline_store": "stub",
            }
        if (method, path) == ("GET", f"{API}/experiments"):
            return 200, self._list_experiments(query)
        if (method, path) == ("POST", f"{API}/experiments"):
            exp_id = f"exp-{len(self.experiments) + 1}"
            self.experiments[exp_id] = {
                **(body or {}),
                "experiment_id": exp_id,
                "created_at": CREATED_AT,
                "storage_state": "AVAILABLE",
            }
            return 200, self.experiments[exp_id]
        if (method, path) == ("POST", f"{API}/runs"):
            run_id = f"run-{len(self.runs) + 1}"
            self.runs[run_id] = {
                **(body or {}),
                "run_id": run_id,
                "state": "PENDING",
                "created_at": CREATED_AT,
                "storage_state": "AVAILABLE",
            }
            return 200, self.runs[run_id]
        match = re.fullmatch(rf"{API}/runs/([\w.-]+)(:retry)?", path)
        if match and match.group(1) in self.runs:
            run_id, action = match.groups()
            if method == "GET" and action is None:
                return 200, self.runs[run_id]
            if method == "POST" and action == ":retry":
                self.runs[run_id].update(state="RUNNING", finished_at=None, error=None)
                return 200, {}
        if (method, path) == ("POST", f"{API}/recurringruns"):
            rr_id = f"rr-{len(self.recurring_runs) + 1}"
            self.recurring_runs[rr_id] = {
                **(body or {}),
                "recurring_run_id": rr_id,
                "status": "ENABLED",
                "created_at": CREATED_AT,
            }
            return 200, self.recurring_runs[rr_id]
        return 404, {"code": 5, "message": f"stub: no route for {method} {path}"}

    def _list_experiments(self, query: dict[str, list[str]]) -> dict:
        wanted = None
        if query.get("filter"):
            predicates = json.loads(query["filter"][0]).get("predicates", [])
            names = [p.get("stringValue") for p in predicates if p.get("key") == "display_name"]
            wanted = names[0] if names else None
        namespace = (query.get("namespace") or [None])[0]
        found = [
            e
            for e in self.experiments.values()
            if (wanted is None or e["display_name"] == wanted)
            and (namespace is None or e.get("namespace") == namespace)
        ]
        return {"experiments": found, "total_size": len(found)} if found else {}

    # ----------------------------------------------------------------- HTTP plumbing
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, fmt: str, *args: Any) -> None:
                pass  # keep pytest output clean

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, {"code": 8, "message": "stub: body too large"})
                    return
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                url = urlsplit(self.path)
                with stub.lock:
                    if len(stub.requests) >= stub.max_requests:
                        self._answer(429, {"code": 8, "message": "stub: request limit"})
                        return
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    query = parse_qs(url.query)
                    stub.requests.append(Recorded(self.command, url.path, query, body, headers))
                    status, payload = stub._route(self.command, url.path, query, body, headers)
                self._answer(status, payload)

            do_GET = do_POST = do_DELETE = _handle

        return Handler
