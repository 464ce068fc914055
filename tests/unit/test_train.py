import math

import numpy as np
import pytest
import torch

from alseg import IGNORE
from alseg.config import ModelConfig, TrainConfig
from alseg.models import build_model
from alseg.train import _batches, augment_batch, criterion, poly_lr, sgd, train_model


def test_criterion_averages_over_labelled_pixels_only() -> None:
    # pixel 0: logits (0, 0), target 0 -> ln 2; pixel 1: logits (0, ln 3), target 1 -> ln(4/3);
    # pixel 2 ignored.  mean = (ln 2 + ln 4/3) / 2
    logits = torch.tensor([[0.0, 0.0, 5.0], [0.0, math.log(3), -5.0]]).view(1, 2, 1, 3)
    targets = torch.tensor([[[0, 1, IGNORE]]])
    expected = (math.log(2) + math.log(4 / 3)) / 2
    assert criterion(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_criterion_without_labels_is_zero_with_a_graph() -> None:
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    loss = criterion(logits, torch.full((1, 2, 2), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_poly_lr() -> None:
    assert poly_lr(0.01, 0, 10, 0.9) == 0.01
    assert poly_lr(0.01, 5, 10, 1.0) == pytest.approx(0.005)  # 0.01 * (1 - 5/10)


def test_batches_are_full_and_cover_every_image_each_epoch() -> None:
    stream = _batches(5, 2, torch.Generator().manual_seed(0))
    first = np.concatenate([next(stream) for _ in range(5)])  # 10 draws = two epochs
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and sorted(first[5:]) == [0, 1, 2, 3, 4]
    assert len(next(_batches(1, 3, torch.Generator()))) == 3


def test_augment_flips_image_and_target_together() -> None:
    targets = torch.arange(80).view(1, 8, 10).repeat(4, 1, 1)
    images = targets[:, None].float().repeat(1, 3, 1, 1)
    cfg = TrainConfig(scale_range=(1.0, 1.0), hflip=True)
    out_images, out_targets = augment_batch(images, targets, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(out_images[:, 0].long(), out_targets)
    flipped = [bool((t == targets[0].flip(1)).all()) for t in out_targets]
    assert any(flipped) and not all(flipped)  # per-sample flips (seeded)


def test_augment_pads_targets_with_ignore_when_shrinking() -> None:
    images, targets = torch.zeros(2, 3, 20, 20), torch.zeros(2, 20, 20, dtype=torch.long)
    cfg = TrainConfig(scale_range=(0.5, 0.5), hflip=False)
    out_images, out_targets = augment_batch(images, targets, cfg, torch.Generator().manual_seed(0))
    assert out_images.shape == (2, 3, 20, 20) and out_targets.shape == (2, 20, 20)
    assert (out_targets == IGNORE).sum() == 2 * (400 - 100)  # a 10x10 image padded to 20x20


def test_training_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    targets = rng.integers(0, 3, (4, 32, 32)).astype(np.uint8)
    cfg = TrainConfig(iterations=2, batch_size=2)
    runs = [
        train_model(
            images, targets, np.arange(4), 3, ModelConfig(), cfg, seed=5, device="cpu", log_every=0
        )[0]
        for _ in range(2)
    ]
    for (name, a), (_, b) in zip(
        runs[0].state_dict().items(), runs[1].state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_mulactseg_stage_one_trains_on_region_class_sets() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    maps = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 16, 0), 16, 1)[None].repeat(3, 0)
    classes = np.zeros((3, 4, 3), bool)
    classes[:, 0, [0, 1]] = True  # a two-class region
    classes[:, 3, 2] = True  # a single-class region; regions 1 and 2 unlabelled
    cfg = TrainConfig(iterations=2, batch_size=2, trainer="mulactseg")
    model_cfg = ModelConfig(head="cosine", temperature=0.1)
    model, stats = train_model(
        images,
        None,
        np.arange(3),
        3,
        model_cfg,
        cfg,
        seed=0,
        device="cpu",
        log_every=0,
        region_labels=(maps, classes),
    )
    assert math.isfinite(stats["final_loss"]) and stats["final_loss"] > 0
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_sgd_trains_the_head_at_head_lr_scale() -> None:
    """Two groups: backbone at lr, ASPP + decoder + classifier at 10 x lr; every parameter in
    exactly one group; the poly schedule scales both (train_model sets scale x poly_lr)."""
    model = build_model(num_classes=3)
    optimizer = sgd(model, TrainConfig(lr=0.02, head_lr_scale=10.0))
    backbone, head = optimizer.param_groups
    assert (backbone["scale"], head["scale"]) == (1.0, 10.0)
    assert len(backbone["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    lrs = [g["scale"] * poly_lr(0.02, 50, 100, 1.0) for g in optimizer.param_groups]
    assert lrs == pytest.approx([0.01, 0.1])
