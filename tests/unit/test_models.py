"""Tests for alseg.models (DeepLabv3+ built from scratch; tiny CPU inputs)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50

from alseg.config import ModelConfig
from alseg.models import (
    BACKBONES,
    HEADS,
    CosineClassifier,
    DeepLabV3Plus,
    build_model,
    load_pretrained,
)

C = 5  # number of classes in every test model


def _images(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g)


def _seeded(seed: int = 0, **kwargs: object) -> DeepLabV3Plus:
    torch.manual_seed(seed)
    return build_model(num_classes=C, **kwargs).eval()  # type: ignore[arg-type]


def test_constants() -> None:
    assert BACKBONES == ("mobilenet_v2", "resnet50", "resnet101", "efficientnet_lite0")
    assert HEADS == ("linear", "cosine")
    # the config (torch-free) lists the same backbones as the model registry
    assert typing.get_args(ModelConfig.model_fields["backbone"].annotation) == BACKBONES


@pytest.mark.parametrize(("output_stride", "high_hw"), [(16, (4, 6)), (8, (8, 12))])
def test_mobilenet_shapes(output_stride: int, high_hw: tuple[int, int]) -> None:
    # 64x96 input: low level at stride 4 -> 16x24; high level 64/16 x 96/16 = 4x6 at OS16,
    # 64/8 x 96/8 = 8x12 at OS8; logits back at 64x96.
    model = _seeded(output_stride=output_stride)
    x = _images(2, 64, 96)
    with torch.no_grad():
        low, high = model.backbone(x)
        logits, f = model(x, return_features=True)
    assert low.shape == (2, 24, 16, 24)
    assert high.shape == (2, 320, *high_hw)
    assert logits.shape == (2, C, 64, 96)
    assert f.shape == (2, 256, 16, 24)
    assert torch.isfinite(logits).all()


def test_mobilenet_dilation_pattern_os16() -> None:
    # DeepLabV3Plus-Pytorch scheme at OS16: block 14 (the 4th stride-2 block) loses its stride
    # and keeps dilation 1; blocks 15-17 are dilated by 2 with padding 2.
    model = _seeded(output_stride=16)
    dws = [
        next(m for m in block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
        for block in model.backbone.features[1:]
    ]
    strides = [dw.stride[0] for dw in dws]
    dilations = [dw.dilation[0] for dw in dws]
    assert strides == [1, 2, 1, 2, 1, 1, 2] + [1] * 10
    assert dilations == [1] * 14 + [2, 2, 2]
    assert all(dw.padding == dw.dilation for dw in dws)


def test_resnet50_shapes() -> None:
    # 64x64: layer1 at stride 4 -> 16x16 (256 ch); layer4 at OS16 -> 4x4 (2048 ch).
    model = _seeded(backbone="resnet50")
    x = _images(1, 64, 64)
    with torch.no_grad():
        low, high = model.backbone(x)
        logits = model(x)
    assert low.shape == (1, 256, 16, 16)
    assert high.shape == (1, 2048, 4, 4)
    assert logits.shape == (1, C, 64, 64)


def test_cosine_classifier_hand_computed() -> None:
    # f = (3, 4) -> f/|f| = (0.6, 0.8); w = [[1, 0], [0, 2]] -> rows (1, 0), (0, 1);
    # logits = (0.6, 0.8) / 0.1 = (6, 8).
    head = CosineClassifier(in_dim=2, num_classes=2, temperature=0.1)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    f = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    z = head(f)
    assert z.shape == (1, 2, 1, 1)
    torch.testing.assert_close(z.flatten(), torch.tensor([6.0, 8.0]))


def test_cosine_model_logits_bounded() -> None:
    # Cosine logits are cos / T with |cos| <= 1, so |z| <= 1 / 0.2 = 5.
    temperature = 0.2
    model = _seeded(head="cosine", temperature=temperature)
    with torch.no_grad():
        logits, f = model(_images(2, 32, 32), return_features=True)
    assert logits.abs().max().item() <= 1.0 / temperature + 1e-4
    # The head equals normalised f . normalised w / T, computed here by hand at stride 4.
    w = model.classifier.weight
    ref = torch.einsum(
        "bdhw,cd->bchw", f / f.norm(dim=1, keepdim=True), w / w.norm(dim=1, keepdim=True)
    )
    torch.testing.assert_close(model.classifier(f), ref / temperature, atol=1e-5, rtol=1e-5)


def test_same_seed_same_model_and_outputs() -> None:
    a, b = _seeded(7), _seeded(7)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    x = _images(2, 32, 48)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    c = _seeded(8)  # a different seed gives a different init
    assert not torch.equal(sa["aspp.project.0.weight"], c.state_dict()["aspp.project.0.weight"])


def test_init_scheme() -> None:
    model = _seeded()
    bn = model.aspp.project[1]
    assert isinstance(bn, nn.BatchNorm2d)
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
    assert torch.equal(model.classifier.bias, torch.zeros(C))
    # kaiming-normal fan_out: std = sqrt(2 / fan_out); project conv fan_out = 256 * 1 * 1.
    std = model.aspp.project[0].weight.std().item()
    assert abs(std - (2.0 / 256) ** 0.5) < 0.01


def test_separable_uses_depthwise_convs() -> None:
    sep, full = _seeded(separable=True), _seeded(separable=False)
    # ASPP branch 1 (rate 6): depthwise 3x3 over the 320 MobileNetV2 channels, dilation 6.
    dw = sep.aspp.branches[1][0]
    assert (dw.groups, dw.in_channels, dw.kernel_size, dw.dilation) == (320, 320, (3, 3), (6, 6))
    assert full.aspp.branches[1][0].groups == 1
    # OS8 doubles the rates: (12, 24, 36).
    os8 = _seeded(output_stride=8)
    assert [os8.aspp.branches[i][0].dilation[0] for i in (1, 2, 3)] == [12, 24, 36]
    n_sep = sum(p.numel() for p in sep.parameters())
    n_full = sum(p.numel() for p in full.parameters())
    assert n_sep < n_full


def test_param_groups_partition_parameters() -> None:
    model = _seeded()
    ids = [id(p) for p in model.backbone_parameters()] + [id(p) for p in model.head_parameters()]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_training_step_backward() -> None:
    model = _seeded().train()
    logits = model(_images(2, 32, 32))
    loss = nn.functional.cross_entropy(logits, torch.zeros(2, 32, 32, dtype=torch.long))
    loss.backward()
    assert model.backbone.features[0][0].weight.grad is not None
    assert model.classifier.weight.grad.abs().sum() > 0


def test_training_batch_of_one_rejected() -> None:
    model = _seeded().train()
    with pytest.raises(ValueError, match="drop_last"):
        model(_images(1, 32, 32))


def test_full_state_dict_roundtrip(tmp_path: Path) -> None:
    src = _seeded(1, head="cosine")
    path = tmp_path / "full.pt"
    torch.save(src.state_dict(), path)
    assert load_pretrained(_seeded(2, head="cosine"), str(path)) == []
    dst = build_model(num_classes=C, head="cosine", pretrained=str(path)).eval()
    x = _images(2, 32, 32)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


def test_module_prefix_and_wrapper_are_accepted(tmp_path: Path) -> None:
    src = _seeded(1)
    path = tmp_path / "ckpt.pt"
    wrapped = {f"module.{k}": v for k, v in src.state_dict().items()}
    torch.save({"state_dict": wrapped, "epoch": 3}, path)
    dst = _seeded(2)
    assert load_pretrained(dst, str(path)) == []
    assert torch.equal(dst.classifier.weight, src.classifier.weight)


@pytest.mark.parametrize("whole_net", [False, True])
def test_mobilenet_backbone_only_state_dict(tmp_path: Path, whole_net: bool) -> None:
    # .features.state_dict() has keys "0.0.weight"; the whole net "features.0.0.weight" (plus
    # classifier.1.* and features.18.*, which the model lacks and ignores).
    torch.manual_seed(3)
    tv = mobilenet_v2(weights=None)
    state = tv.state_dict() if whole_net else tv.features.state_dict()
    path = tmp_path / "mnv2.pt"
    torch.save(state, path)
    model = _seeded(4)
    missing = load_pretrained(model, str(path))
    assert torch.equal(model.backbone.features[0][0].weight, tv.features[0][0].weight)
    assert torch.equal(model.backbone.features[17].conv[2].weight, tv.features[17].conv[2].weight)
    assert missing, "ASPP/decoder/classifier keys stay unloaded"
    assert not [k for k in missing if k.startswith("backbone.")]
    assert "classifier.weight" in missing


def test_resnet_backbone_only_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(3)
    tv = resnet50(weights=None)
    path = tmp_path / "r50.pt"
    torch.save(tv.state_dict(), path)  # includes fc.*, ignored
    model = build_model("resnet50", num_classes=C, pretrained=str(path))
    assert torch.equal(model.backbone.layer1[0].conv1.weight, tv.layer1[0].conv1.weight)
    assert torch.equal(model.backbone.conv1.weight, tv.conv1.weight)


def test_garbage_file_raises_with_name(tmp_path: Path) -> None:
    path = tmp_path / "garbage_weights.pt"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(ValueError, match="garbage_weights.pt"):
        build_model(num_classes=C, pretrained=str(path))
    with pytest.raises(ValueError, match="no_such_file.pt"):
        load_pretrained(_seeded(), str(tmp_path / "no_such_file.pt"))


def test_unmatched_keys_raise(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"foo.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="other.pt"):
        load_pretrained(_seeded(), str(path))


def test_shape_mismatch_raises(tmp_path: Path) -> None:
    path = tmp_path / "seven_classes.pt"
    torch.manual_seed(0)
    torch.save(build_model(num_classes=7).state_dict(), path)
    with pytest.raises(ValueError, match="seven_classes.pt.*classifier.weight"):
        load_pretrained(_seeded(), str(path))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backbone": "xception65"}, "backbone"),
        ({"head": "arcface"}, "head"),
        ({"output_stride": 32}, "output_stride"),
        ({"num_classes": 0}, "num_classes"),
        ({"head": "cosine", "temperature": 0.0}, "temperature"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"num_classes": C} | kwargs
    with pytest.raises(ValueError, match=match):
        build_model(**args)  # type: ignore[arg-type]


def test_bad_input_raises() -> None:
    model = _seeded()
    with pytest.raises(ValueError, match="3, H, W"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="floating"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
