"""KFP components, one per stage: thin wrappers that call ``alseg.stages`` inside the body.

A component's interface (params, round_index, input and output artifacts) and image follow its
entry in ``alseg.stages.registry``; its body runs the stage through ``registry.call``
(tests/unit/test_stage_registry.py checks every component against the registry).

Images (built by ``make images``): CPU stages run in ``CPU_IMAGE``, network stages in ``GPU_IMAGE``.
Override with ``ALSEG_CPU_IMAGE`` / ``ALSEG_GPU_IMAGE`` at compile time: the one configured
reference that ``alseg submit``/``compile`` and the nightly CronWorkflow (from the
``alseg-settings`` ConfigMap) share. Prefer ``repo@sha256:...`` digests: a re-pushed tag keeps the
cache key (image string + inputs), so cached results of the old image would be reused. The
compiled spec's description records both references and whether each is a digest or a tag.
"""

import os
import re

VERSION = "0.1.0"
CPU_IMAGE = os.environ.get("ALSEG_CPU_IMAGE", f"ghcr.io/alseg/alseg-python-cpu:{VERSION}")
GPU_IMAGE = os.environ.get("ALSEG_GPU_IMAGE", f"ghcr.io/alseg/alseg-python-gpu:{VERSION}")

# [registry[:port]/]path[:tag][@sha256:<64 hex>] (Docker's reference grammar, lower-case path)
_REFERENCE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def image_kind(reference: str) -> str:
    """``"digest"`` (``...@sha256:<64 hex>``) or ``"tag"``; ValueError naming a bad reference."""
    match = _REFERENCE.fullmatch(reference or "")
    if not match or not (match["tag"] or match["digest"]):
        raise ValueError(
            f"image reference {reference!r} is not REPOSITORY:TAG or REPOSITORY@sha256:<digest> "
            "(check ALSEG_CPU_IMAGE / ALSEG_GPU_IMAGE)"
        )
    return "digest" if match["digest"] else "tag"


def image(stage: str) -> str:
    """The image of a stage: ``CPU_IMAGE`` or ``GPU_IMAGE`` by its kind in the stage registry."""
    from alseg.stages.registry import STAGES

    return {"cpu": CPU_IMAGE, "gpu": GPU_IMAGE}[STAGES[stage].image]


def images_description() -> str:
    """What the compiled spec records: ``images: cpu=REF (digest|tag), gpu=REF (digest|tag)``."""
    pairs = (("cpu", CPU_IMAGE), ("gpu", GPU_IMAGE))
    return "images: " + ", ".join(f"{kind}={ref} ({image_kind(ref)})" for kind, ref in pairs)
