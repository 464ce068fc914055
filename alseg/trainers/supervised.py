"""Supervised trainer: cross-entropy on the labelled pixels (255 = unlabelled, ignored)."""

from __future__ import annotations

import numpy as np
import torch

from alseg.config import TrainConfig
from alseg.train import augment_batch, criterion, to_input
from alseg.trainers.base import FitJob, LabelledSet, Trainer, run_steps


def labelled_loss(
    model: torch.nn.Module,
    labelled: LabelledSet,
    rows: np.ndarray,
    cfg: TrainConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """CE of ``model`` on the augmented labelled batch ``rows`` (alseg.train.criterion)."""
    x = to_input(labelled.images[labelled.target_images[rows]], model)
    y = torch.from_numpy(labelled.targets[rows].astype(np.int64)).to(x.device)
    x, y = augment_batch(x, y, cfg, generator)
    return criterion(model(x), y)


class SupervisedTrainer(Trainer):
    def fit(self, model: torch.nn.Module, job: FitJob) -> tuple[torch.nn.Module, dict]:
        labelled, cfg, generator, log_every = job.labelled, job.cfg, job.generator, job.log_every
        batches = labelled.batches(cfg.batch_size, generator)
        stats = run_steps(
            model, cfg, lambda _: labelled_loss(model, labelled, next(batches), cfg, generator),
            log_every,
        )  # fmt: skip
        return model.eval(), stats


TRAINER = SupervisedTrainer()
