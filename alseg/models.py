"""DeepLabv3+ on torchvision and timm backbones (ALGORITHMS.md §5.1).

Nothing is ever downloaded: every torchvision / timm constructor is called without weights;
pretrained weights come only from a local file (:func:`load_pretrained`) or from a package that
ships them (:mod:`alseg.weights`, e.g. ``efficientnet_lite0`` + ``imagenet``).

Architecture (Chen et al. 2018), for an input ``x (B, 3, H, W)``:

- Backbone -> ``low (B, C_low, H/4, W/4)`` and ``high (B, C_high, H/os, W/os)``, os = 16 or 8.
  MobileNetV2: low = ``features[0:4]`` (C_low = 24), high = ``features[4:18]`` (C_high = 320;
  the final 1x1 conv to 1280 channels is dropped). Output stride 16/8 is reached as in
  DeepLabV3Plus-Pytorch: the stride-2 depthwise convs past the target stride get stride 1 and
  every later depthwise conv is dilated by the stride removed so far (the block whose stride was
  removed keeps the previous dilation). ResNet-50/101: ``replace_stride_with_dilation`` =
  [False, False, True] (os 16) or [False, True, True] (os 8); low = layer1 (256), high = layer4
  (2048). EfficientNet-Lite0 (timm ``efficientnet_lite0``, ``features_only``): low = stage 1
  (24 channels, stride 4), high = the last stage (320 channels, stride os, dilated past it).
- ASPP on ``high``: a 1x1 branch, three 3x3 atrous branches with rates (6, 12, 18) at os 16 and
  (12, 24, 36) at os 8, and image pooling (global mean -> 1x1 -> upsampled); 256 channels each,
  BN + ReLU; concat (1280) -> 1x1 to 256 + BN + ReLU + Dropout(0.1).
- Decoder: ``low`` -> 1x1 to 48 + BN + ReLU; concat with the ASPP output bilinearly upsampled to
  H/4 (align_corners=False) -> 304 channels -> two 3x3 convs to 256 + BN + ReLU. The result is
  the decoder feature ``f (B, 256, H/4, W/4)``.
- ``separable=True`` makes the ASPP atrous convs and both decoder 3x3 convs depthwise-separable
  (depthwise 3x3 + BN + ReLU + pointwise 1x1 + BN + ReLU), about 1.7x faster on CPU.
- Head on ``f``: ``"linear"`` = 1x1 conv with bias; ``"cosine"`` = :class:`CosineClassifier`,
  z_c = <f / ||f||, w_c / ||w_c||> / T with no bias, so every logit lies in [-1/T, 1/T]. In both
  cases the logits are bilinearly upsampled (align_corners=False) to (H, W) and callers simply
  apply ``softmax(dim=1)``; the temperature is already inside the cosine logits.

Initialisation: every conv (and the cosine class weights) kaiming-normal (fan_out, relu), conv
biases 0, BatchNorm weight 1 / bias 0; deterministic under ``torch.manual_seed``. The model's
``input_norm`` (mean, std) is the normalisation its backbone weights expect
(:func:`alseg.weights.input_norm`); :func:`alseg.train.to_input` applies it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2, resnet50, resnet101

from alseg.weights import IMAGENET_NORM, Norm, PackagedWeights, input_norm, named_weights

HEADS: tuple[str, ...] = ("linear", "cosine")
OUTPUT_STRIDES: tuple[int, ...] = (8, 16)

FEATURE_DIM = 256  # channels of the decoder feature f, the ASPP branches and the ASPP output
LOW_LEVEL_DIM = 48  # channels of the projected low-level feature in the decoder
ASPP_RATES_OS16: tuple[int, int, int] = (6, 12, 18)  # doubled at output stride 8

_MOBILENET_LOW_END = 4  # features[0:4] -> stride 4, 24 channels
_MOBILENET_HIGH_END = 18  # features[4:18] -> 320 channels (features[18] is the 1x1 to 1280)


# --------------------------------------------------------------------------- guards


def _check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}; pick one of those")


def _check_num_classes(num_classes: object) -> None:
    """Raise ValueError unless ``num_classes`` is an int >= 1."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"num_classes must be an int >= 1, got {num_classes!r}; pass the number of "
            "predicted classes (without the ignore index)"
        )


def _check_temperature(temperature: object) -> None:
    """Raise ValueError unless ``temperature`` is a finite float > 0."""
    ok = isinstance(temperature, int | float) and not isinstance(temperature, bool)
    if not ok or not (0.0 < float(temperature) < float("inf")):
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature!r}; "
            "MulActSeg uses 0.1 (ALGORITHMS.md §5.1)"
        )


def _check_image_batch(x: object, training: bool) -> None:
    """Raise ValueError unless ``x`` is a floating (B, 3, H, W) tensor (B >= 2 when training)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x must be a (B, 3, H, W) tensor, got {got}; add a batch axis with x.unsqueeze(0) "
            "or convert grey images to 3 channels"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"x must be a floating tensor, got dtype {x.dtype}; normalise the image to float "
            "(e.g. x.float() / 255 then mean/std)"
        )
    if training and x.shape[0] < 2:
        raise ValueError(
            f"in training mode the batch must hold >= 2 images, got B={x.shape[0]}; the ASPP "
            "image-pooling BatchNorm needs 2 values per channel: use drop_last=True in the "
            "DataLoader, a batch size >= 2, or model.eval() for inference"
        )


# --------------------------------------------------------------------------- blocks


def _conv_bn_relu(
    in_ch: int, out_ch: int, kernel: int = 1, dilation: int = 1, groups: int = 1
) -> list[nn.Module]:
    """Conv (no bias, 'same' padding for odd kernels) + BN + ReLU as a list of modules."""
    padding = dilation * (kernel - 1) // 2
    return [
        nn.Conv2d(in_ch, out_ch, kernel, padding=padding, dilation=dilation, groups=groups,
                  bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    ]  # fmt: skip


def _conv3x3_block(in_ch: int, out_ch: int, dilation: int, separable: bool) -> nn.Sequential:
    """3x3 conv block keeping the spatial size.

    separable: depthwise 3x3 (dilation) + BN + ReLU + pointwise 1x1 + BN + ReLU;
    otherwise: full 3x3 (dilation) + BN + ReLU.
    """
    if separable:
        layers = _conv_bn_relu(in_ch, in_ch, 3, dilation, groups=in_ch)
        layers += _conv_bn_relu(in_ch, out_ch, 1)
    else:
        layers = _conv_bn_relu(in_ch, out_ch, 3, dilation)
    return nn.Sequential(*layers)


class _ASPPPooling(nn.Sequential):
    """Image pooling branch: global mean (B, C, 1, 1) -> 1x1 + BN + ReLU -> upsample to (h, w)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), *_conv_bn_relu(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = super().forward(x)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: (B, in_ch, h, w) -> (B, 256, h, w).

    Branches: 1x1; 3x3 at each rate in ``rates``; image pooling. Each gives 256 channels with
    BN + ReLU; concat (5 * 256) -> 1x1 to 256 + BN + ReLU + Dropout(0.1).
    """

    def __init__(self, in_ch: int, rates: tuple[int, ...], separable: bool) -> None:
        super().__init__()
        branches: list[nn.Module] = [nn.Sequential(*_conv_bn_relu(in_ch, FEATURE_DIM, 1))]
        branches += [_conv3x3_block(in_ch, FEATURE_DIM, r, separable) for r in rates]
        branches.append(_ASPPPooling(in_ch, FEATURE_DIM))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            *_conv_bn_relu(len(branches) * FEATURE_DIM, FEATURE_DIM, 1), nn.Dropout(0.1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))


class Decoder(nn.Module):
    """DeepLabv3+ decoder: (low (B, C_low, h, w), aspp (B, 256, h', w')) -> f (B, 256, h, w).

    f = conv3x3(conv3x3(concat[up(aspp), relu(bn(conv1x1_48(low)))])).
    """

    def __init__(self, low_ch: int, separable: bool) -> None:
        super().__init__()
        self.low_proj = nn.Sequential(*_conv_bn_relu(low_ch, LOW_LEVEL_DIM, 1))
        self.fuse = nn.Sequential(
            _conv3x3_block(FEATURE_DIM + LOW_LEVEL_DIM, FEATURE_DIM, 1, separable),
            _conv3x3_block(FEATURE_DIM, FEATURE_DIM, 1, separable),
        )

    def forward(self, low: torch.Tensor, aspp: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(aspp, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, self.low_proj(low)], dim=1))


class CosineClassifier(nn.Module):
    """Cosine classifier, no bias: z_c(p) = <f(p)/||f(p)||, w_c/||w_c||> / T.

    ``f (B, D, h, w)`` -> logits ``(B, C, h, w)`` in [-1/T, 1/T]; ``weight`` is (C, D). L2 norms
    use ``F.normalize`` (eps 1e-12), so an all-zero feature vector gives logits 0 (uniform
    softmax). Callers simply apply softmax to the returned logits: T is already applied.
    """

    def __init__(self, in_dim: int, num_classes: int, temperature: float = 0.1) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.temperature = float(temperature)
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f_n = F.normalize(f, dim=1)
        w_n = F.normalize(self.weight, dim=1)
        return torch.einsum("bdhw,cd->bchw", f_n, w_n) / self.temperature


# --------------------------------------------------------------------------- backbones


class MobileNetV2Backbone(nn.Module):
    """torchvision MobileNetV2 ``features[0:18]`` -> (low, high).

    low = features[0:4] (B, 24, H/4, W/4); high = features[4:18] (B, 320, H/os, W/os).

    Parameter names are ``features.<i>...`` as in torchvision, so torchvision state_dicts map
    onto ``backbone.features.<i>...`` of the full model.
    """

    low_channels = 24
    high_channels = 320

    def __init__(self, output_stride: int) -> None:
        super().__init__()
        _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        self.features = mobilenet_v2(weights=None).features[:_MOBILENET_HIGH_END]
        self._dilate(output_stride)

    def _dilate(self, output_stride: int) -> None:
        """Replace strides past ``output_stride`` by dilation (DeepLabV3Plus-Pytorch scheme)."""
        current_stride = 2  # features[0] is a stride-2 conv
        dilation = 1
        for block in self.features[1:]:
            dw = next(m for m in block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
            if dw.stride[0] == 2:
                if current_stride == output_stride:
                    dw.stride = (1, 1)
                    dw.dilation = dw.padding = (dilation, dilation)  # previous dilation
                    dilation *= 2
                else:
                    current_stride *= 2
            else:
                dw.dilation = dw.padding = (dilation, dilation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.features[:_MOBILENET_LOW_END](x)
        return low, self.features[_MOBILENET_LOW_END:](low)


class ResNetBackbone(nn.Module):
    """torchvision ResNet stem + layer1..4 -> (low = layer1 (B, 256, H/4, W/4), high = layer4).

    ``high`` is (B, 2048, H/os, W/os) with strides replaced by dilation past ``output_stride``.
    Parameter names match torchvision (``conv1.weight``, ``layer1.0.conv1.weight`` ...); the
    avgpool and fc layers are dropped.
    """

    low_channels = 256
    high_channels = 2048

    def __init__(self, depth: str, output_stride: int) -> None:
        super().__init__()
        _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        dilate = [False, False, True] if output_stride == 16 else [False, True, True]
        ctor = {"resnet50": resnet50, "resnet101": resnet101}[depth]
        net = ctor(weights=None, replace_stride_with_dilation=dilate)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        return low, self.layer4(self.layer3(self.layer2(low)))


class TimmBackbone(nn.Module):
    """A timm model with ``features_only`` -> (low (B, C_low, H/4, W/4), high (B, C_high, H/os,
    W/os)); strides past ``output_stride`` become dilation (timm's own scheme). Parameter names
    are timm's under ``body.`` (``body.conv_stem.weight``, ``body.blocks.0.0...``)."""

    def __init__(self, name: str, output_stride: int) -> None:
        super().__init__()
        _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        import timm  # imported only for timm backbones (about 1 s)

        self.name = name
        self.body = timm.create_model(name, pretrained=False, features_only=True,
                                      out_indices=(1, 4), output_stride=output_stride)  # fmt: skip
        self.low_channels, self.high_channels = self.body.feature_info.channels()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low, high = self.body(x)
        return low, high

    def load_packaged(self, weights: PackagedWeights) -> None:
        """Load packaged ``lukemelas``-layout weights: their tensors (without
        ``num_batches_tracked``) in file order are timm's full-model tensors in its order; the
        features-only body keeps all but the head (conv_head, bn2, classifier)."""
        import timm

        path = weights.path()
        source = [v for k, v in _read_state_dict(path).items() if "num_batches_tracked" not in k]
        with torch.device("meta"):
            full = timm.create_model(self.name, pretrained=False)
        names = [k for k in full.state_dict() if "num_batches_tracked" not in k]
        if len(names) != len(source):
            raise ValueError(f"weights file {path!r} holds {len(source)} tensors, timm "
                             f"'{self.name}' {len(names)}; not the same architecture")  # fmt: skip
        target = self.body.state_dict()
        mapped = {}
        for name, value in zip(names, source, strict=True):
            if name in target:
                if value.shape != target[name].shape:
                    raise ValueError(f"weights file {path!r}: {name} has shape "
                                     f"{tuple(value.shape)}, timm {tuple(target[name].shape)}")
                mapped[name] = value
        missing = [k for k in target if k not in mapped and "num_batches_tracked" not in k]
        if missing:
            raise ValueError(f"weights file {path!r} leaves {missing[:3]} of '{self.name}' unset")
        self.body.load_state_dict(mapped, strict=False)


# backbone name -> builder(output_stride); config.ModelConfig.backbone lists the same names
_BACKBONE_BUILDERS = {
    "mobilenet_v2": MobileNetV2Backbone,
    "resnet50": lambda stride: ResNetBackbone("resnet50", stride),
    "resnet101": lambda stride: ResNetBackbone("resnet101", stride),
    "efficientnet_lite0": lambda stride: TimmBackbone("efficientnet_lite0", stride),
}
BACKBONES: tuple[str, ...] = tuple(_BACKBONE_BUILDERS)


# --------------------------------------------------------------------------- model


def _init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, relu) convs with zero bias; BN weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, CosineClassifier):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+ (see the module docstring): x (B, 3, H, W) -> logits (B, C, H, W).

    Sub-modules (state_dict prefixes): ``backbone``, ``aspp``, ``decoder``, ``classifier``.
    """

    def __init__(
        self,
        backbone: MobileNetV2Backbone | ResNetBackbone | TimmBackbone,
        num_classes: int,
        head: str = "linear",
        temperature: float = 0.1,
        output_stride: int = 16,
        separable: bool = True,
    ) -> None:
        super().__init__()
        _check_num_classes(num_classes)
        _check_choice("head", head, HEADS)
        _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        rates = tuple(r * 16 // output_stride for r in ASPP_RATES_OS16)
        self.num_classes = num_classes
        self.head = head
        self.output_stride = output_stride
        self.feature_dim = FEATURE_DIM
        self.backbone = backbone
        self.aspp = ASPP(backbone.high_channels, rates, separable)
        self.decoder = Decoder(backbone.low_channels, separable)
        self.classifier: nn.Module
        if head == "cosine":
            self.classifier = CosineClassifier(FEATURE_DIM, num_classes, temperature)
        else:
            self.classifier = nn.Conv2d(FEATURE_DIM, num_classes, 1, bias=True)
        _init_weights(self)
        self.input_norm: Norm = IMAGENET_NORM

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, C, H, W); with ``return_features`` also f (B, 256, H/4, W/4).

        f is the decoder feature before the head (not L2-normalised). Logits are upsampled
        bilinearly (align_corners=False) to the input size; apply softmax(dim=1) for probs.
        """
        _check_image_batch(x, self.training)
        low, high = self.backbone(x)
        f = self.decoder(low, self.aspp(high))
        logits = F.interpolate(
            self.classifier(f), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return (logits, f) if return_features else logits

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the backbone (MulActSeg trains them at lr)."""
        return self.backbone.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of ASPP, decoder and classifier (MulActSeg: 10 x lr, ``--cls_lr_scale``)."""
        for module in (self.aspp, self.decoder, self.classifier):
            yield from module.parameters()


def build_model(
    backbone: str = "mobilenet_v2",
    *,
    num_classes: int,
    head: str = "linear",
    temperature: float = 0.1,
    output_stride: int = 16,
    separable: bool = True,
    pretrained: str | None = None,
    load_weights: bool = True,
) -> DeepLabV3Plus:
    """Build a DeepLabv3+ (never downloads weights).

    ``backbone`` in BACKBONES, ``head`` in HEADS, ``output_stride`` in (8, 16); ``temperature``
    is only used by the cosine head. ``pretrained``: a name of packaged weights for the backbone
    (:data:`alseg.weights.NAMED_WEIGHTS`, e.g. ``imagenet``) or a local state_dict file loaded
    with :func:`load_pretrained` (full-model or backbone-only). ``load_weights=False`` keeps the
    random initialisation but sets ``input_norm`` as the weights would (a checkpoint follows).
    """
    _check_choice("backbone", backbone, BACKBONES)
    _check_choice("head", head, HEADS)
    _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
    _check_num_classes(num_classes)
    if head == "cosine":
        _check_temperature(temperature)
    packaged = named_weights(backbone, pretrained)
    model = DeepLabV3Plus(
        _BACKBONE_BUILDERS[backbone](output_stride), num_classes, head, temperature,
        output_stride, separable,
    )  # fmt: skip
    model.input_norm = input_norm(backbone, pretrained)
    if load_weights and packaged is not None:
        model.backbone.load_packaged(packaged)
    elif load_weights and pretrained is not None:
        load_pretrained(model, pretrained)
    return model





# --------------------------------------------------------------------------- weights

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_STRIP_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """torch.load(weights_only=True) a state_dict (optionally under 'state_dict'/'model')."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable / unsafe / non-torch file
        raise ValueError(
            f"cannot read weights file {path!r}: {type(exc).__name__}: {exc}; pass a file "
            "written by torch.save(model.state_dict(), path)"
        ) from exc
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(
            f"weights file {path!r} holds {type(obj).__name__}, not a non-empty state_dict; "
            "save it with torch.save(model.state_dict(), path)"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        for prefix in _STRIP_PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def load_pretrained(model: DeepLabV3Plus, path: str) -> list[str]:
    """Load a local state_dict file into ``model``; return the model keys left unloaded (sorted).

    The file is either a full-model state_dict (keys start with ``backbone.``) or a backbone-only
    one with torchvision names: ``features.0.0.weight`` or ``0.0.weight`` (MobileNetV2 or its
    ``.features``), ``conv1.weight`` / ``layer1.0.conv1.weight`` (ResNet). Backbone keys are
    mapped to ``backbone.<key>`` or ``backbone.features.<key>``; keys the model lacks (fc,
    classifier, features.18, ...) are ignored. Raises ValueError naming the file when it cannot
    be read, when no key matches the model, or when a matched key has a different shape.
    """
    state = _read_state_dict(path)
    target = model.state_dict()
    full_model = any(k.startswith("backbone.") for k in state)
    candidates = ("",) if full_model else ("backbone.", "backbone.features.")
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = next((p + key for p in candidates if p + key in target), None)
        if name is not None:
            mapped[name] = value
    if not mapped:
        kind = "full-model" if full_model else "backbone-only"
        raise ValueError(
            f"no key of weights file {path!r} ({kind}, e.g. {next(iter(state))!r}) matches the "
            f"model (e.g. {next(iter(target))!r}); check the backbone name it was saved for"
        )
    bad = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in mapped.items()
        if v.shape != target[k].shape
    ]
    if bad:
        raise ValueError(
            f"weights file {path!r} has {len(bad)} shape mismatch(es), e.g. {bad[:3]}; build the "
            "model with the same backbone, num_classes, head and separable settings"
        )
    model.load_state_dict(mapped, strict=False)
    return sorted(k for k in target if k not in mapped)
