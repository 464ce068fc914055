"""Trainer registry (torch-free): a trainer turns a model, the labelled set and, when it asks for
one, an unlabelled stream into a trained model (:mod:`alseg.trainers.base`).

Each trainer is declared once here: the module that implements it (imported when training, as it
imports torch) and its typed settings (``train.settings``; :mod:`alseg.trainers.settings`), so
config validation, ``run_train`` and the README read one table. Adding a trainer: one module with
a ``TRAINER`` object, one line below, its tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from alseg.registry import Registry
from alseg.trainers.settings import S4ALSettings

if TYPE_CHECKING:
    from alseg.trainers.base import Trainer


@dataclass(frozen=True)
class TrainerSpec:
    """``module`` defines ``TRAINER``; ``settings`` types ``train.settings`` (None: no settings)."""

    module: str
    settings: type[BaseModel] | None = None
    description: str = ""


TRAINERS: Registry[TrainerSpec] = Registry("trainer")
TRAINERS.update({
    "supervised": TrainerSpec("alseg.trainers.supervised", None, "CE on labelled pixels"),
    "mulactseg": TrainerSpec("alseg.trainers.mulactseg", None,
                             "merged-positive + prototypical-pixel losses on multi-class region "
                             "labels (MulActSeg stage 1)"),
    "s4al": TrainerSpec("alseg.trainers.s4al", S4ALSettings,
                        "mean teacher + confidence-weighted pseudo-labels + balanced ClassMix on "
                        "the unlabelled pool (S4AL)"),
})  # fmt: skip


def get_trainer(name: str) -> Trainer:
    """The registered trainer object (imports its module)."""
    return importlib.import_module(TRAINERS.lookup(name).module).TRAINER
