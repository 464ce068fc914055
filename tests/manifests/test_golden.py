"""A fresh compile of each golden source equals the IR stored under tests/golden/ (as KFP's own
compiler tests do): any change to the DAG, a component's interface or source, a default or the
platform spec shows up as a diff to review, then to accept with ``make golden``."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.manifests.golden import (
    REGENERATE,
    SOURCES,
    compile_normalised,
    golden_path,
    normalise,
)


@pytest.mark.parametrize("source", SOURCES)
def test_compiled_pipeline_matches_golden(source: str, tmp_path: Path) -> None:
    stored = golden_path(source)
    assert stored.is_file(), f"{stored} is missing; run `{REGENERATE}`"
    fresh = compile_normalised(source, tmp_path)
    expected = stored.read_text()
    if fresh != expected:
        diff = difflib.unified_diff(expected.splitlines(), fresh.splitlines(), str(stored),
                                    f"{source} (compiled now)", lineterm="", n=2)  # fmt: skip
        shown = "\n".join(list(diff)[:80])
        pytest.fail(f"{source} compiles differently from {stored.name}; if the change is "
                    f"intended, run `{REGENERATE}` and commit tests/golden/\n{shown}")  # fmt: skip


def test_normalise_keeps_all_but_images_and_sdk_version() -> None:
    import components

    text = (
        f"pipelineInfo:\n  description: 'images: cpu={components.CPU_IMAGE} (tag), gpu=x:1'\n"
        f"deploymentSpec:\n  image: {components.GPU_IMAGE}\n  seed: 3\nsdkVersion: kfp-9.9.9\n"
        "---\nplatforms: {}\n"
    )
    out = normalise(text)
    assert "images: cpu=<cpu-image>, gpu=x:1" in out
    assert "image: <gpu-image>" in out and "seed: 3" in out
    assert "sdkVersion: kfp-<version>" in out and "9.9.9" not in out
    assert out.count("---") == 1 and "platforms: {}" in out
