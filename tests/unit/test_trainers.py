"""The trainer interface (alseg.trainers): registry, config validation, and byte-identical
training for the two trainers that existed before it (pinned against the pre-interface loop)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg import IGNORE
from alseg.config import ConfigError, ModelConfig, TrainConfig, parse_config
from alseg.losses import mulactseg_loss
from alseg.train import (
    _batches,
    augment_batch,
    criterion,
    model_from_config,
    poly_lr,
    sgd,
    to_input,
    train_model,
)
from alseg.trainers import TRAINERS, get_trainer
from alseg.trainers.base import Trainer, unlabelled_stream
from alseg.trainers.settings import S4ALSettings


def legacy_train_model(images, targets, target_images, num_classes, model_cfg, cfg, seed,
                       region_labels=None):  # fmt: skip
    """train_model at 9c30868 (before the trainer interface), minus logging and stats."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = model_from_config(model_cfg, num_classes).to(memory_format=torch.channels_last)
    model.train()
    optimizer = sgd(model, cfg)
    batches = _batches(len(target_images), cfg.batch_size, generator)
    losses = []
    for step in range(cfg.iterations):
        rows = next(batches)
        x = to_input(images[target_images[rows]], model)
        for group in optimizer.param_groups:
            group["lr"] = group["scale"] * poly_lr(cfg.lr, step, cfg.iterations, cfg.poly_power)
        if region_labels is None:
            y = torch.from_numpy(targets[rows].astype(np.int64))
            x, y = augment_batch(x, y, cfg, generator)
            loss = criterion(model(x), y)
        else:
            maps, classes = region_labels
            y = torch.from_numpy(maps[rows].astype(np.int64))
            x, y = augment_batch(x, y, cfg, generator, pad_value=-1)
            loss, _ = mulactseg_loss(model(x), y, torch.from_numpy(classes[rows]),
                                     *cfg.loss_weights)  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


@pytest.fixture
def pool() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)


def test_supervised_trainer_matches_the_pre_interface_loop(pool: np.ndarray) -> None:
    targets = np.random.default_rng(1).integers(0, 3, (4, 32, 32)).astype(np.uint8)
    targets[:, :8] = IGNORE
    cfg, rows = TrainConfig(iterations=3, batch_size=2), np.array([0, 2, 3, 4])
    new, stats = train_model(pool, targets, rows, 3, ModelConfig(), cfg, seed=5, device="cpu",
                             log_every=0)  # fmt: skip
    old, losses = legacy_train_model(pool, targets, rows, 3, ModelConfig(), cfg, seed=5)
    _assert_same_weights(new, old)
    assert stats["final_loss"] == float(np.mean(losses)) and not new.training


def test_mulactseg_trainer_matches_the_pre_interface_loop(pool: np.ndarray) -> None:
    maps = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 16, 0), 16, 1)[None].repeat(3, 0)
    classes = np.zeros((3, 4, 3), bool)
    classes[:, 0, [0, 1]] = True
    classes[:, 3, 2] = True
    cfg = TrainConfig(iterations=3, batch_size=2, trainer="mulactseg")
    model_cfg, rows = ModelConfig(head="cosine"), np.array([1, 2, 4])
    new, stats = train_model(pool, None, rows, 3, model_cfg, cfg, seed=0, device="cpu",
                             log_every=0, region_labels=(maps, classes))  # fmt: skip
    old, losses = legacy_train_model(pool, None, rows, 3, model_cfg, cfg, 0, (maps, classes))
    _assert_same_weights(new, old)
    assert stats["final_loss"] == float(np.mean(losses))


def test_every_registered_trainer_loads_and_settings_follow_the_registry() -> None:
    for name, spec in TRAINERS.items():
        assert isinstance(get_trainer(name), Trainer)
        cfg = TrainConfig(trainer=name)
        assert (cfg.settings is None) == (spec.settings is None)
    assert "settings" not in TrainConfig().model_dump()  # old configs keep their cache keys
    cfg = TrainConfig(trainer="s4al", s4al={"replay_size": 7})
    assert isinstance(cfg.settings, S4ALSettings) and cfg.settings.replay_size == 7
    assert TrainConfig(**cfg.model_dump(mode="json")) == cfg


@pytest.mark.parametrize(
    ("train", "field", "words"),
    [({"trainer": "nope"}, "train.trainer", "unknown trainer 'nope'"),
     ({"trainer": "supervised", "supervised": {"a": 1}}, "train", "has no settings"),
     ({"trainer": "s4al", "s4al": {"ema_momentum": 1.5}}, "train", "s4al.ema_momentum"),
     ({"trainer": "s4al", "s4al": {"typo": 1}}, "train", "s4al.typo"),
],
)  # fmt: skip
def test_bad_trainer_config_names_the_field(train: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError, match=f"field '{field}'.*{words}"):
        parse_config({"train": train})


def test_unlabelled_stream_keeps_incomplete_images_with_their_revealed_labels() -> None:
    images = np.zeros((4, 2, 2, 3), np.uint8)
    targets = np.array([[[1, 255], [255, 255]], [[0, 0], [0, 0]]], np.uint8)  # images 1 and 3
    stream = unlabelled_stream(images, targets, np.array([1, 3]), np.array([0, 0, 0, 1], bool))
    assert stream.rows.tolist() == [0, 1, 2] and len(stream) == 3
    revealed = stream.revealed(np.array([1, 0]))
    assert revealed[0].tolist() == [[1, 255], [255, 255]] and (revealed[1] == IGNORE).all()
