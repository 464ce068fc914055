"""MulActSeg stage-1 trainer: merged-positive + prototypical-pixel losses on multi-class region
labels (alseg.losses.mulactseg_loss, weights ``train.loss_weights``). Stage 2 retrains with the
supervised trainer on pseudo-labels."""

from __future__ import annotations

import numpy as np
import torch

from alseg.losses import mulactseg_loss
from alseg.train import augment_batch, to_input
from alseg.trainers.base import FitJob, Trainer, run_steps


class MulActSegTrainer(Trainer):
    needs_region_labels = True

    def fit(self, model: torch.nn.Module, job: FitJob) -> tuple[torch.nn.Module, dict]:
        labelled, cfg, generator, log_every = job.labelled, job.cfg, job.generator, job.log_every
        if labelled.region_labels is None:
            raise ValueError("trainer 'mulactseg' needs region labels (the regions folder)")
        maps, classes = labelled.region_labels
        batches = labelled.batches(cfg.batch_size, generator)

        def step_loss(_: int) -> torch.Tensor:
            rows = next(batches)
            x = to_input(labelled.images[labelled.target_images[rows]], model)
            y = torch.from_numpy(maps[rows].astype(np.int64)).to(x.device)
            x, y = augment_batch(x, y, cfg, generator, pad_value=-1)
            region_classes = torch.from_numpy(classes[rows]).to(x.device)
            return mulactseg_loss(model(x), y, region_classes, *cfg.loss_weights)[0]

        stats = run_steps(model, cfg, step_loss, log_every)
        return model.eval(), stats


TRAINER = MulActSegTrainer()
