"""Supervised training on sparse targets and checkpoint I/O (inference: ``alseg.predict``).

Reads like torchvision's ``references/segmentation/train.py``: ``augment_batch``, ``criterion``,
``train_model``, but driven by validated config objects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from alseg import IGNORE
from alseg.config import ModelConfig, TrainConfig
from alseg.models import DeepLabV3Plus, build_model

if TYPE_CHECKING:
    from alseg.trainers.base import UnlabelledStream


def to_input(images: np.ndarray, model: DeepLabV3Plus) -> torch.Tensor:
    """uint8 (B, H, W, 3) RGB -> float (B, 3, H, W) on the model's device, normalised as its
    backbone weights expect: (x / 255 - mean) / std with ``model.input_norm``."""
    device = next(model.parameters()).device
    mean, std = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in model.input_norm)
    batch = torch.from_numpy(np.array(images)).to(device).permute(0, 3, 1, 2).float()
    return ((batch / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)


def model_from_config(
    model_cfg: ModelConfig, num_classes: int, load_weights: bool = True
) -> DeepLabV3Plus:
    """The DeepLabv3+ ``model_cfg`` describes (pretrained weights loaded unless a checkpoint
    follows: ``load_weights=False``)."""
    return build_model(
        model_cfg.backbone,
        num_classes=num_classes,
        head=model_cfg.head,
        temperature=model_cfg.temperature,
        output_stride=model_cfg.output_stride,
        separable=model_cfg.separable,
        pretrained=model_cfg.pretrained,
        load_weights=load_weights,
    )


def augment_batch(
    images: torch.Tensor,
    targets: torch.Tensor,
    cfg: TrainConfig,
    generator: torch.Generator,
    pad_value: int = IGNORE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale (one factor per batch) + crop back to size + per-sample h-flip.

    images float (B, 3, H, W) (padded with 0), targets int64 (B, H, W) (label maps or region
    maps, resized with nearest, padded with ``pad_value``) -> same shapes.
    """
    _, _, height, width = images.shape
    low, high = cfg.scale_range
    scale = low + (high - low) * torch.rand((), generator=generator).item()
    new_h, new_w = max(8, round(height * scale)), max(8, round(width * scale))
    if (new_h, new_w) != (height, width):
        images = F.interpolate(images, (new_h, new_w), mode="bilinear", align_corners=False)
        targets = F.interpolate(targets[:, None].float(), (new_h, new_w), mode="nearest")[
            :, 0
        ].long()
    pad_h, pad_w = max(0, height - new_h), max(0, width - new_w)
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h))
        targets = F.pad(targets, (0, pad_w, 0, pad_h), value=pad_value)
    y0 = int(torch.randint(images.shape[2] - height + 1, (), generator=generator))
    x0 = int(torch.randint(images.shape[3] - width + 1, (), generator=generator))
    images = images[:, :, y0 : y0 + height, x0 : x0 + width]
    targets = targets[:, y0 : y0 + height, x0 : x0 + width]
    if cfg.hflip:
        flip = torch.rand(images.shape[0], generator=generator) < 0.5
        images = torch.where(flip.view(-1, 1, 1, 1).to(images.device), images.flip(3), images)
        targets = torch.where(flip.view(-1, 1, 1).to(targets.device), targets.flip(2), targets)
    return images.contiguous(memory_format=torch.channels_last), targets.contiguous()


def criterion(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over labelled pixels only (targets == 255 are ignored).

    A batch with no labelled pixel returns 0 (with a graph) rather than NaN.
    """
    if not (targets != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, targets, ignore_index=IGNORE)


def poly_lr(base_lr: float, step: int, total: int, power: float) -> float:
    """lr_t = base_lr * (1 - t / T) ** power."""
    return base_lr * (1 - step / total) ** power


def sgd(model: DeepLabV3Plus, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD over two parameter groups: the backbone at lr and the head (ASPP, decoder,
    classifier) at ``cfg.head_lr_scale`` x lr; each group's ``scale`` multiplies the schedule."""
    groups = [{"params": list(model.backbone_parameters()), "scale": 1.0},
              {"params": list(model.head_parameters()), "scale": cfg.head_lr_scale}]  # fmt: skip
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[np.ndarray]:
    """Full batches of indices drawn from back-to-back shuffled epochs (always ``batch_size``
    rows, wrapping into the next epoch; BatchNorm in ASPP pooling needs at least 2)."""
    stream = np.empty(0, np.int64)
    while True:
        while len(stream) < batch_size:
            stream = np.concatenate([stream, torch.randperm(n, generator=generator).numpy()])
        batch, stream = stream[:batch_size], stream[batch_size:]
        yield batch


def train_model(
    images: np.ndarray,
    targets: np.ndarray | None,
    target_images: np.ndarray,
    num_classes: int,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    seed: int,
    device: str,
    init_state: dict | None = None,
    log_every: int = 50,
    region_labels: tuple[np.ndarray, np.ndarray] | None = None,
    trainer: str | None = None,
    unlabelled: UnlabelledStream | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Train a fresh (or warm-started) model on the labelled images with a registered trainer
    (``trainer``, default ``cfg.trainer``; alseg.trainers).

    images uint8 (N, H, W, 3) (memory-mapped pool); targets uint8 (K, H, W) with 255 = unlabelled;
    target_images int (K,) = row of ``images`` for each target; ``region_labels`` = (region maps
    int (K, H, W), region classes bool (K, R, C)) for the ``mulactseg`` trainer; ``unlabelled``:
    the pool's unlabelled stream for trainers that use one. Returns (model, stats).
    """
    from alseg.trainers import get_trainer
    from alseg.trainers.base import FitJob, LabelledSet

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = model_from_config(model_cfg, num_classes, load_weights=init_state is None)
    if init_state is not None:
        model.load_state_dict(init_state)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    labelled = LabelledSet(images, targets, target_images, region_labels)
    job = FitJob(labelled, unlabelled, cfg, generator, log_every)
    model, run = get_trainer(trainer or cfg.trainer).fit(model, job)
    losses, seconds = run.pop("losses"), run.pop("seconds")
    if not math.isfinite(losses[-1]):
        raise FloatingPointError(f"training diverged: loss {losses[-1]} (lower train.lr)")
    stats = {
        "iterations": cfg.iterations,
        "final_loss": float(np.mean(losses[-10:])),
        "train_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / cfg.iterations, 4),
        "labelled_images": int(len(target_images)),
        **run,
    }
    return model.eval(), stats


def save_checkpoint(model: torch.nn.Module, folder: Path, sidecar: dict) -> None:
    """``model.pt`` (state_dict on CPU) + ``model.json`` sidecar."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / "model.pt")
    (folder / "model.json").write_text(json.dumps(sidecar, indent=1, sort_keys=True))


def load_checkpoint(folder: str | Path, device: str) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model described by ``model.json`` and load ``model.pt``."""
    folder = Path(folder)
    sidecar = json.loads((folder / "model.json").read_text())
    model = model_from_config(ModelConfig(**sidecar["model"]), sidecar["num_classes"], False)
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).to(memory_format=torch.channels_last).eval(), sidecar
