"""Every preset and sweep grid compiles into a package the KFP API server accepts on upload.

The server parses the first YAML document strictly into ``PipelineSpec`` (unknown fields fail,
``schemaVersion`` must be 2.1.0) and its Argo compiler parses each executor's Kubernetes config
strictly into ``KubernetesExecutorConfig``; the same parses run here with protobuf's
``json_format.ParseDict`` (``ignore_unknown_fields=False``) into the protobufs shipped with kfp.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from alseg.cluster_cli import compile_package

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "configs").glob("*.yaml")) + sorted(
    (ROOT / "configs" / "sweeps").glob("*.yaml")
)


def strict_parse(path: Path) -> tuple[pipeline_spec_pb2.PipelineSpec, dict[str, object]]:
    """(PipelineSpec, {executor label: KubernetesExecutorConfig}) as the API server parses them."""
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 2, f"{path}: expected pipeline spec + platform spec"
    pipeline_doc, platform_doc = documents
    spec = json_format.ParseDict(pipeline_doc, pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    executors = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    configs = {
        label: json_format.ParseDict(
            config, kubernetes_executor_config_pb2.KubernetesExecutorConfig()
        )
        for label, config in executors.items()
    }
    assert "kubernetes" in platform.platforms
    return spec, configs


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("specs")


def test_strict_parse_rejects_unknown_fields(out_dir: Path) -> None:
    package = compile_package(str(ROOT / "configs" / "tiny.yaml"), {}, str(out_dir / "t.yaml"))
    pipeline_doc, platform_doc = yaml.safe_load_all(package.path.read_text())
    pipeline_doc["root"]["dag"]["unknownField"] = 1
    with pytest.raises(json_format.ParseError, match="unknownField"):
        json_format.ParseDict(pipeline_doc, pipeline_spec_pb2.PipelineSpec())
    label, config = next(iter(platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
                               .items()))  # fmt: skip
    config["secretAsEnv"][0]["notAField"] = True
    with pytest.raises(json_format.ParseError, match="notAField"):
        json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_preset_and_sweep_parses_strictly(source: Path, out_dir: Path) -> None:
    package = compile_package(str(source), {}, str(out_dir / f"{source.stem}.yaml"))
    spec, configs = strict_parse(package.path)
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == ("al-sweep" if package.sweep else "al-experiment")
    assert "images: cpu=" in spec.pipeline_info.description
    executors = set(spec.deployment_spec["executors"])
    assert configs and set(configs) <= executors
    profile = package.profile
    for label, config in configs.items():
        assert [s.secret_name for s in config.secret_as_env] == [profile.secret_name], label
        assert [c.config_map_name for c in config.config_map_as_env] == [profile.config_map_name]
    gpu = [
        c for c in configs.values() if any(m.mount_path == "/dev/shm" for m in c.empty_dir_mounts)
    ]
    assert gpu, "GPU stages mount a memory-backed /dev/shm"
