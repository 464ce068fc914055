"""Golden compiled pipelines: two presets and a sweep, compiled as ``alseg compile`` does (with
their cluster profile) and stored under ``tests/golden/``. Regenerate with ``make golden``
(``python -m tests.manifests.golden``); ``test_golden.py`` diffs a fresh compile against them.

Only what legitimately varies between machines is normalised: the image references (set by
``ALSEG_CPU_IMAGE`` / ``ALSEG_GPU_IMAGE``, with their tag/digest kind) and the kfp SDK version.
Everything else (DAG, component interfaces and sources, defaults, platform spec) must match.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SOURCES = ("configs/default.yaml", "configs/mulactseg.yaml", "configs/sweeps/policies.yaml")
REGENERATE = "make golden"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the components' embedded sources) as literal blocks: line diffs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _normalise_value(value: Any, images: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _normalise_value(v, images) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_value(v, images) for v in value]
    if isinstance(value, str):
        for reference, placeholder in images.items():
            value = re.sub(rf"{re.escape(reference)}( \((?:tag|digest)\))?", placeholder, value)
    return value


def normalise(text: str) -> str:
    """Compiled IR YAML (pipeline spec + platform spec) -> the stored golden form."""
    import components

    images = {components.CPU_IMAGE: "<cpu-image>", components.GPU_IMAGE: "<gpu-image>"}
    documents = [_normalise_value(d, images) for d in yaml.safe_load_all(text)]
    documents[0]["sdkVersion"] = "kfp-<version>"
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=True, width=100)


def golden_path(source: str) -> Path:
    return GOLDEN / f"{Path(source).stem}.yaml"


def compile_normalised(source: str, out_dir: Path) -> str:
    """Compile ``source`` (preset or sweep grid, relative to the repo) -> normalised YAML."""
    from alseg.cluster_cli import compile_package

    package = compile_package(str(ROOT / source), {}, str(out_dir / f"{Path(source).stem}.yaml"))
    return normalise(package.path.read_text())


def main() -> int:
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for source in SOURCES:
            golden_path(source).write_text(compile_normalised(source, Path(tmp)))
            print(f"{golden_path(source).relative_to(ROOT)} <- {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
