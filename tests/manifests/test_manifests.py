"""Offline checks of manifests/ (kustomize base and overlays), without a cluster or kubectl.

A small loader renders a kustomization (resources, namespace, labels, JSON6902 patches: the
features manifests/ uses; anything else fails loudly). Every core object is validated with
kubernetes-validate (strict: unknown fields fail), every Argo object with the Argo Workflows JSON
Schema from ../shared/schemas, and the security and consistency rules are checked: placeholder-only
Secrets, pinned images, resources and non-root on every container, a least-privilege Role, and
the kfp-launcher ConfigMap, MLflow server, bucket Job and schedules agreeing with each other.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator

import components

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KUSTOMIZATIONS = {"base": MANIFESTS / "base", "local": MANIFESTS / "overlays" / "local"}
ARGO_SCHEMA = ROOT.parent / "shared" / "schemas" / "argo-workflows-schema.json"
ARGO_KINDS = {"CronWorkflow", "Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}
K8S_VERSION = "1.34.0"  # a recent release bundled by kubernetes-validate >= 1.34
NAMESPACE = "alseg"
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ClusterWorkflowTemplate",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
PLACEHOLDER = "REPLACE_ME"
SECRET_ENV = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL", re.I)
BUCKETS = {"alseg-pipelines", "alseg-mlflow", "alseg-datasets"}
KFP_HOST = "http://ml-pipeline.kubeflow.svc:8888"

Doc = dict[str, Any]


# --------------------------------------------------------------------------------------- loader
LOADER_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "patches"}


def render(directory: Path) -> list[Doc]:
    """Objects of ``directory/kustomization.yaml``, like ``kubectl kustomize`` for the features
    used here: ``resources`` (files, or directories with a kustomization), ``namespace``,
    ``labels`` (metadata only) and ``patches`` with inline JSON6902 ops and a kind/name target."""
    path = directory / "kustomization.yaml"
    spec = yaml.safe_load(path.read_text())
    unsupported = set(spec) - LOADER_KEYS
    if unsupported:
        raise ValueError(
            f"{path}: the test loader does not handle {sorted(unsupported)}; extend it"
        )
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            docs.extend(render(target))
        else:
            docs.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if spec.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = spec["namespace"]
        for label in spec.get("labels", []):
            if label.get("includeSelectors") or label.get("includeTemplates"):
                raise ValueError(f"{path}: labels with selectors/templates are not handled")
            meta.setdefault("labels", {}).update(label["pairs"])
    for patch in spec.get("patches", []):
        target = patch["target"]
        matches = [
            d
            for d in docs
            if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
        ]
        if not matches:
            raise ValueError(f"{path}: patch target {target} matches no object")
        for doc in matches:
            for op in yaml.safe_load(patch["patch"]):
                apply_json_patch(doc, op)
    return docs


def apply_json_patch(doc: Doc, op: dict[str, Any]) -> None:
    """One RFC 6902 ``add`` / ``replace`` / ``remove`` operation, in place."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    parent: Any = doc
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op["op"] == "add":
            parent.insert(index, op["value"])
        elif op["op"] == "replace":
            parent[index] = op["value"]
        elif op["op"] == "remove":
            del parent[index]
        else:
            raise ValueError(f"unsupported op {op}")
    elif op["op"] == "add":
        parent[last] = op["value"]
    elif op["op"] in ("replace", "remove"):
        if last not in parent:
            raise KeyError(f"{op['op']} {op['path']}: no such field")
        if op["op"] == "replace":
            parent[last] = op["value"]
        else:
            del parent[last]
    else:
        raise ValueError(f"unsupported op {op}")


@cache
def _rendered(name: str) -> tuple[Doc, ...]:
    return tuple(render(KUSTOMIZATIONS[name]))


@pytest.fixture(params=sorted(KUSTOMIZATIONS), scope="module")
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    """Rendered objects of one kustomization (a fresh deep copy per test)."""
    return copy.deepcopy(list(_rendered(request.param)))


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_containers(doc: Doc) -> Iterator[tuple[Doc, Doc, dict[str, Any], str]]:
    """(container, pod securityContext, pod spec, where) for every container an object runs."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    pods: list[tuple[dict[str, Any], list[Doc]]] = []
    if kind in WORKLOADS:
        spec = doc["spec"]["template"]["spec"]
        pods.append((spec, spec.get("initContainers", []) + spec["containers"]))
    elif kind == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pods.append((spec, spec.get("initContainers", []) + spec["containers"]))
    elif kind in ARGO_KINDS:
        spec = doc["spec"]["workflowSpec"] if kind == "CronWorkflow" else doc["spec"]
        for template in spec.get("templates", []):
            found = [template[k] for k in ("container", "script") if k in template]
            found += template.get("initContainers", []) + template.get("sidecars", [])
            pods.append((spec, found))
    for spec, containers in pods:
        for container in containers:
            where = f"{kind}/{name} container {container.get('name', '(main)')}"
            yield container, spec.get("securityContext", {}), spec, where


def all_containers(docs: list[Doc]) -> list[tuple[Doc, Doc, dict[str, Any], str]]:
    return [entry for doc in docs for entry in pod_containers(doc)]


# ------------------------------------------------------------------------------ the loader itself
def test_loader_applies_namespace_labels_and_patches(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n"
    )
    (tmp_path / "base" / "kustomization.yaml").write_text(
        "namespace: ns\nresources: [cm.yaml]\nlabels: [{pairs: {x: '1'}}]\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [base]\npatches:\n- target: {kind: ConfigMap, name: a}\n"
        "  patch: '[{op: replace, path: /data/k, value: w}, {op: add, path: /data/n, value: m}]'\n"
    )
    config_map, namespace = render(tmp_path)
    assert config_map["metadata"] == {"name": "a", "namespace": "ns", "labels": {"x": "1"}}
    assert config_map["data"] == {"k": "w", "n": "m"}
    assert "namespace" not in namespace["metadata"]  # cluster-scoped
    (tmp_path / "kustomization.yaml").write_text("resources: [base]\nimages: []\n")
    with pytest.raises(ValueError, match="does not handle"):
        render(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_loader_agrees_with_kubectl_kustomize(name: str) -> None:
    """Cross-check of the loader where kubectl (with its built-in kustomize) is at hand."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 and "unknown command" in result.stderr:
        pytest.skip("this kubectl has no kustomize")
    assert result.returncode == 0, result.stderr

    def key(doc: Doc) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    expected = {key(d): d for d in yaml.safe_load_all(result.stdout) if d}
    assert {key(d): d for d in _rendered(name)} == expected


# ------------------------------------------------------------------------------------- validity
def test_core_objects_validate_strictly(docs: list[Doc]) -> None:
    core = [d for d in docs if d["kind"] not in ARGO_KINDS]
    assert len(core) >= 10
    for doc in core:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {err.message} at {err.path}")


@cache
def argo_validators() -> tuple[Draft202012Validator, dict[str, Draft202012Validator]]:
    """The published schema (top-level oneOf selects the resource by kind), and per kind a strict
    copy (additionalProperties: false on every object definition: a misspelt or removed field,
    e.g. the old singular ``schedule``, fails)."""
    if not ARGO_SCHEMA.exists():
        pytest.skip(f"{ARGO_SCHEMA} not found")
    schema = json.loads(ARGO_SCHEMA.read_text())
    strict = copy.deepcopy(schema)
    for definition in strict["definitions"].values():
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    by_kind = {}
    for choice in strict.pop("oneOf"):
        ref = choice["$ref"]
        kind = ref.rsplit(".", 1)[-1]
        by_kind[kind] = Draft202012Validator({**strict, "$ref": ref})
    return Draft202012Validator(schema), by_kind


def test_argo_objects_validate_against_schema(docs: list[Doc]) -> None:
    argo = [d for d in docs if d["kind"] in ARGO_KINDS]
    assert argo, "expected the nightly CronWorkflow"
    published, strict = argo_validators()
    for doc in argo:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        errors = sorted(strict[doc["kind"]].iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )
        assert published.is_valid(doc), where


def test_argo_strict_schema_rejects_unknown_fields() -> None:
    _, strict = argo_validators()
    cron = copy.deepcopy(one(list(_rendered("base")), "CronWorkflow", "alseg-nightly"))
    assert strict["CronWorkflow"].is_valid(cron)
    cron["spec"]["schedule"] = cron["spec"].pop("schedules")[0]  # pre-3.6 singular field
    assert not strict["CronWorkflow"].is_valid(cron)


def test_namespaced_objects_live_in_alseg(docs: list[Doc]) -> None:
    assert [d["metadata"]["name"] for d in find(docs, "Namespace")] == [NAMESPACE]
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")


# ------------------------------------------------------------------------------------- security
def test_secrets_hold_only_placeholders(docs: list[Doc]) -> None:
    secrets = find(docs, "Secret")
    assert {s["metadata"]["name"] for s in secrets} == {"alseg-s3", "alseg-postgres"}
    for secret in secrets:
        name = secret["metadata"]["name"]
        assert "data" not in secret, f"{name}: base64 data; templates use stringData placeholders"
        values = secret["stringData"]
        assert values and all(v == PLACEHOLDER for v in values.values()), f"{name}: {values}"


def test_no_credentials_inline_in_env(docs: list[Doc]) -> None:
    for container, _, _, where in all_containers(docs):
        for env in container.get("env", []):
            if SECRET_ENV.search(env["name"]):
                assert "value" not in env, f"{where}: {env['name']} has an inline value"
                assert "secretKeyRef" in env["valueFrom"], f"{where}: {env['name']}"
        for arg in container.get("args", []) + container.get("command", []):
            literal = re.sub(r"\$\(\w+\)", "", arg)  # $(VAR) comes from a secretKeyRef
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", literal), f"{where}: {arg}"


def _image_is_pinned(image: str) -> bool:
    if "@" in image:
        return bool(re.fullmatch(r".+@sha256:[0-9a-f]{64}", image))
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return "latest" not in tag and bool(re.match(r"v?\d+(\.\d+)+", tag))


def test_image_pin_rule() -> None:
    assert _image_is_pinned("postgres:17.5-bookworm")
    assert _image_is_pinned("ghcr.io/mlflow/mlflow:v3.17.2-full")
    assert _image_is_pinned("localhost:5000/x@sha256:" + "a" * 64)
    for floating in ("postgres", "postgres:latest", "localhost:5000/x", "x:latest-full", "x:17"):
        assert not _image_is_pinned(floating), floating


def test_container_images_are_pinned(docs: list[Doc]) -> None:
    containers = all_containers(docs)
    assert len(containers) >= 4
    for container, _, _, where in containers:
        assert _image_is_pinned(container["image"]), f"{where}: {container['image']}"


def test_every_container_has_resources_and_runs_as_non_root(docs: list[Doc]) -> None:
    for container, pod_security, _, where in all_containers(docs):
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
        security = container.get("securityContext", {})
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        uid = security.get("runAsUser", pod_security.get("runAsUser"))
        assert non_root is True, f"{where}: runAsNonRoot is not set"
        assert isinstance(uid, int) and uid > 0, f"{where}: runAsUser {uid}"
        assert security.get("allowPrivilegeEscalation") is False, where
        assert security.get("capabilities", {}).get("drop") == ["ALL"], where
        assert "privileged" not in security or security["privileged"] is False, where
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        assert seccomp.get("type") == "RuntimeDefault", where


def test_role_is_least_privilege(docs: list[Doc]) -> None:
    role = one(docs, "Role", "alseg-pipeline-runner")
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in value for value in rule.get(field, [])), (field, rule)
        assert not {"escalate", "bind", "impersonate", "delete", "deletecollection"} & set(
            rule["verbs"]
        ), rule
        if set(rule["resources"]) & {"secrets", "configmaps"}:
            assert rule["verbs"] == ["get"] and rule.get("resourceNames"), rule
    granted = {
        (resource, name)
        for rule in role["rules"]
        for resource in rule["resources"]
        for name in rule.get("resourceNames", [])
    }
    assert granted == {
        ("configmaps", "kfp-launcher"),
        ("configmaps", "alseg-settings"),
        ("secrets", "alseg-s3"),
    }
    binding = one(docs, "RoleBinding", "alseg-pipeline-runner")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "alseg-pipeline-runner",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "alseg-pipeline-runner", "namespace": NAMESPACE}
    ]
    one(docs, "ServiceAccount", "alseg-pipeline-runner")


# ---------------------------------------------------------------------------------- consistency
def test_references_resolve(docs: list[Doc]) -> None:
    """Every non-optional Secret/ConfigMap key and ServiceAccount that a pod uses exists."""
    data = {
        (d["kind"], d["metadata"]["name"]): {**d.get("data", {}), **d.get("stringData", {})}
        for d in docs
        if d["kind"] in ("Secret", "ConfigMap")
    }
    accounts = {d["metadata"]["name"] for d in find(docs, "ServiceAccount")}
    for container, _, spec, where in all_containers(docs):
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in accounts, where
        for env in container.get("env", []):
            for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = env.get("valueFrom", {}).get(ref_key)
                if ref and not ref.get("optional"):
                    assert ref["key"] in data.get((kind, ref["name"]), {}), f"{where}: {ref}"
        for source in container.get("envFrom", []):
            for ref_key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                ref = source.get(ref_key)
                if ref and not ref.get("optional"):
                    assert (kind, ref["name"]) in data, f"{where}: {ref}"


def test_services_select_pods_and_ports(docs: list[Doc]) -> None:
    for service in find(docs, "Service"):
        selector = service["spec"]["selector"]
        pods = [
            d["spec"]["template"]
            for d in docs
            if d["kind"] in WORKLOADS
            and selector.items()
            <= d["spec"]["template"].get("metadata", {}).get("labels", {}).items()
        ]
        assert len(pods) == 1, f"Service/{service['metadata']['name']} selects {len(pods)}"
        ports = {p["name"] for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, port
    postgres = one(docs, "StatefulSet", "postgres")
    assert postgres["spec"]["serviceName"] == "postgres"
    claim = postgres["spec"]["volumeClaimTemplates"][0]
    mounts = postgres["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert claim["metadata"]["name"] in {m["name"] for m in mounts}
    assert claim["spec"]["resources"]["requests"]["storage"]


def _settings(docs: list[Doc]) -> dict[str, str]:
    return one(docs, "ConfigMap", "alseg-settings")["data"]


def _created_buckets(docs: list[Doc]) -> set[str]:
    job = one(docs, "Job", "alseg-create-buckets")
    script = "\n".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    loop = re.search(r"for bucket in ([^;\n]+);", script)
    assert loop, script
    assert 'create-bucket --bucket "$bucket"' in script
    return set(loop.group(1).split())


def test_settings_configmap(docs: list[Doc]) -> None:
    settings = _settings(docs)
    assert settings["MLFLOW_TRACKING_URI"] == "http://mlflow.alseg.svc:5000"
    assert urlsplit(settings["AWS_ENDPOINT_URL"]).scheme in ("http", "https")
    assert settings["AWS_DEFAULT_REGION"]
    assert _created_buckets(docs) == BUCKETS


def test_kfp_launcher_configmap(docs: list[Doc]) -> None:
    launcher = one(docs, "ConfigMap", "kfp-launcher")["data"]
    root = launcher["defaultPipelineRoot"]
    assert root.startswith("s3://"), root
    assert urlsplit(root).netloc in _created_buckets(docs)
    default = yaml.safe_load(launcher["providers"])["s3"]["default"]
    endpoint = urlsplit(_settings(docs)["AWS_ENDPOINT_URL"])
    assert default["endpoint"] == endpoint.netloc  # host:port, no scheme
    assert default["disableSSL"] is (endpoint.scheme == "http")
    assert default["region"] == _settings(docs)["AWS_DEFAULT_REGION"]
    credentials = default["credentials"]
    assert credentials["fromEnv"] is False
    ref = credentials["secretRef"]
    secret = one(docs, "Secret", ref["secretName"])["stringData"]
    assert {ref["accessKeyKey"], ref["secretKeyKey"]} <= set(secret)


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def test_mlflow_server(docs: list[Doc]) -> None:
    deployment = one(docs, "Deployment", "mlflow")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    args = dict(a.split("=", 1) if "=" in a else (a, "") for a in container["args"])
    env = _env(container)
    backend = urlsplit(args["--backend-store-uri"])
    assert backend.scheme == "postgresql"
    for var in re.findall(r"\$\((\w+)\)", args["--backend-store-uri"]):
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "alseg-postgres", var
    assert backend.hostname == "postgres.alseg.svc" and backend.port == 5432
    destination = urlsplit(args["--artifacts-destination"])
    assert destination.scheme == "s3" and destination.netloc in _created_buckets(docs)
    assert "--serve-artifacts" in args
    tracking = urlsplit(_settings(docs)["MLFLOW_TRACKING_URI"])
    allowed = args["--allowed-hosts"].split(",")
    assert tracking.netloc in allowed and "*" not in allowed
    assert (
        env["MLFLOW_S3_ENDPOINT_URL"]["valueFrom"]["configMapKeyRef"]["key"] == "AWS_ENDPOINT_URL"
    )
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "alseg-s3"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health", probe
    service = one(docs, "Service", "mlflow")
    assert service["spec"]["ports"][0]["port"] == tracking.port


def _cron(docs: list[Doc]) -> Doc:
    return one(docs, "CronWorkflow", "alseg-nightly")


def test_nightly_cronworkflow(docs: list[Doc]) -> None:
    spec = _cron(docs)["spec"]
    assert spec["schedules"] == ["0 2 * * *"] and spec["concurrencyPolicy"] == "Forbid"
    workflow = spec["workflowSpec"]
    assert workflow["serviceAccountName"] == "alseg-pipeline-runner"
    (template,) = workflow["templates"]
    assert template["name"] == workflow["entrypoint"]
    container = template["container"]
    assert container["command"] == [
        "alseg",
        "submit",
        "configs/sweeps/nightly.yaml",
        "--host",
        KFP_HOST,
        "--experiment",
        "nightly",
    ]
    assert (ROOT / container["command"][2]).is_file()
    repository, tag = container["image"].rsplit(":", 1)
    assert repository.endswith("/alseg-python-cpu") and tag == components.VERSION
    assert container["workingDir"] == "/app"  # the image's WORKDIR, holding configs/


def test_only_the_local_overlay_suspends_the_schedule() -> None:
    assert "suspend" not in _cron(list(_rendered("base")))["spec"]
    assert _cron(list(_rendered("local")))["spec"]["suspend"] is True
    kfp_launcher = [one(list(_rendered(n)), "ConfigMap", "kfp-launcher") for n in KUSTOMIZATIONS]
    assert len(kfp_launcher) == len(KUSTOMIZATIONS)  # the name KFP looks up survives overlays


def test_recurring_run_file_matches_the_cronworkflow() -> None:
    path = MANIFESTS / "recurring-run.yaml"
    data = yaml.safe_load(path.read_text())
    assert "apiVersion" not in data and "kind" not in data  # a data file, not an object
    listed = [
        entry
        for kustomization in MANIFESTS.rglob("kustomization.yaml")
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", [])
    ]
    assert not any(entry.endswith("recurring-run.yaml") for entry in listed)
    run = data["recurring_run"]
    cron = _cron(list(_rendered("base")))["spec"]
    fields = run["cron_expression"].split()
    assert len(fields) == 6 and fields[0] == "0"  # KFP: seconds first
    assert " ".join(fields[1:]) == cron["schedules"][0]
    command = cron["workflowSpec"]["templates"][0]["container"]["command"]
    assert [run["config"], run["host"], run["experiment"]] == [
        command[2],
        command[command.index("--host") + 1],
        command[command.index("--experiment") + 1],
    ]
    assert run["max_concurrency"] == 1 and run["pipeline_root"].startswith("s3://")
