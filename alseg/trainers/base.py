"""The trainer interface: (model, labelled set, optional unlabelled stream) -> trained model.

:func:`alseg.train.train_model` seeds, builds the model and calls the registered trainer's
``fit``; :func:`run_steps` is the SGD loop (poly lr, one optimizer step per loss) every trainer
shares, so a trainer writes only its per-step loss.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from alseg import IGNORE
from alseg.config import TrainConfig
from alseg.progress import progress
from alseg.train import _batches, poly_lr, sgd


@dataclass(frozen=True)
class LabelledSet:
    """images uint8 (N, H, W, 3): the (memory-mapped) pool; targets uint8 (K, H, W), 255 =
    unlabelled; target_images int (K,): pool row of each target; region_labels: (region maps
    int (K, H, W), region classes bool (K, R, C)) for trainers that learn from class sets."""

    images: np.ndarray
    targets: np.ndarray | None
    target_images: np.ndarray
    region_labels: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.target_images)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[np.ndarray]:
        """Rows of the labelled set, in full shuffled batches (alseg.train._batches)."""
        return _batches(len(self), batch_size, generator)


@dataclass(frozen=True)
class UnlabelledStream:
    """Pool images with unlabelled pixels: rows int (U,) of ``images``; the labels already
    bought for row u are ``targets[target_row[u]]`` (uint8 (H, W), 255 = none; -1 = none yet)."""

    images: np.ndarray
    rows: np.ndarray
    targets: np.ndarray
    target_row: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def revealed(self, picks: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W) revealed labels of the stream positions ``picks`` (255 = none)."""
        out = np.full((len(picks), *self.images.shape[1:3]), IGNORE, np.uint8)
        has = self.target_row[picks] >= 0
        out[has] = self.targets[self.target_row[picks][has]]
        return out


def unlabelled_stream(
    images: np.ndarray, targets: np.ndarray, target_images: np.ndarray, complete: np.ndarray
) -> UnlabelledStream:
    """The stream of pool images not fully labelled (``complete`` bool (N,): every region of
    the image labelled), each with the labels bought for it so far."""
    rows = np.flatnonzero(~np.asarray(complete, bool))
    target_row = np.full(len(images), -1, np.int64)
    target_row[target_images] = np.arange(len(target_images))
    return UnlabelledStream(images, rows, targets, target_row[rows])


@dataclass(frozen=True)
class FitJob:
    """What ``Trainer.fit`` trains on: the labelled set, the unlabelled stream (None unless the
    trainer ``needs_unlabelled``), the train config, the seeded generator, the progress interval."""

    labelled: LabelledSet
    unlabelled: UnlabelledStream | None
    cfg: TrainConfig
    generator: torch.Generator
    log_every: int


class Trainer(ABC):
    """One way to train the round's model. ``needs_region_labels``: ``fit`` reads
    ``labelled.region_labels``; ``needs_unlabelled``: ``fit`` reads the unlabelled stream."""

    needs_region_labels: ClassVar[bool] = False
    needs_unlabelled: ClassVar[bool] = False

    @abstractmethod
    def fit(self, model: torch.nn.Module, job: FitJob) -> tuple[torch.nn.Module, dict]:
        """Train ``model`` (in train mode, on its device) for ``cfg.iterations`` steps; return
        the model to report (in eval mode) and stats: at least ``losses`` (one per step) and
        ``seconds``."""


def run_steps(
    model: torch.nn.Module,
    cfg: TrainConfig,
    step_loss: Callable[[int], torch.Tensor],
    log_every: int,
    after_step: Callable[[int], None] | None = None,
) -> dict:
    """``cfg.iterations`` SGD steps (alseg.train.sgd, poly lr per group) on ``step_loss(step)``;
    ``after_step(step)`` runs after each optimizer step. Returns {losses, seconds}."""
    optimizer = sgd(model, cfg)
    losses: list[float] = []
    start = time.perf_counter()
    with progress(total=cfg.iterations, unit="iter", disable=not log_every) as counter:
        for step in range(cfg.iterations):
            for group in optimizer.param_groups:
                group["lr"] = group["scale"] * poly_lr(cfg.lr, step, cfg.iterations,
                                                       cfg.poly_power)  # fmt: skip
            loss = step_loss(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(step)
            losses.append(loss.item())
            if log_every:  # progress lines show the mean loss of the last log_every steps
                counter.set_postfix_str(f"loss {np.mean(losses[-log_every:]):.4f}", refresh=False)
            counter.update()
    return {"losses": losses, "seconds": time.perf_counter() - start}
