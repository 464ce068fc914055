"""Typed settings of the trainers that have their own (``train.settings``), torch-free so config
validation stays light. Registered with their trainer in :mod:`alseg.trainers`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fraction = Annotated[float, Field(ge=0, le=1)]


class S4ALSettings(BaseModel):
    """S4AL (ALGORITHMS.md 4.3): mean teacher, confidence-weighted pseudo-labels, balanced
    ClassMix with a replay buffer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ema_momentum: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.99, description="teacher <- m * teacher + (1 - m) * student, m = min(1 - 1/(t+1), this)"
    )
    confidence_threshold: Annotated[float, Field(gt=0, le=1)] = Field(
        0.97, description="unsupervised weight = share of pixels whose confidence reaches this"
    )
    confidence_weighting: bool = Field(True, description="per-pixel CE x teacher confidence")
    warmup_fraction: Fraction = Field(
        0.1, description="first share of the iterations: labelled loss only"
    )
    warmup_loss_scale: Annotated[float, Field(gt=0)] = Field(
        1.5, description="labelled loss multiplier during the warm-up (the code's cold start)"
    )
    unlabelled_batch_size: Annotated[int, Field(gt=1)] | None = Field(
        None, description="unlabelled images per step; None = train.batch_size"
    )
    jitter: tuple[float, float] = Field(
        (0.75, 1.25), description="strong view: brightness and contrast factor range"
    )
    jitter_p: Fraction = 0.5
    classmix: bool = Field(True, description="strong view: ClassMix between unlabelled images")
    balanced_classmix: bool = Field(
        True, description="a second ClassMix term: masks from replayed images, head/tail classes"
    )
    balanced_start_fraction: Fraction = Field(
        0.3, description="balanced ClassMix starts after this share of the iterations"
    )
    replay_size: Annotated[int, Field(gt=0)] = Field(
        50, description="replay buffer of unlabelled image rows (50 CamVid, 500 Cityscapes)"
    )
    head_mass: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.8, description="head classes: the most frequent labelled classes covering this share"
    )
    head_draws: Annotated[int, Field(ge=0)] = 3
    tail_draws: Annotated[int, Field(ge=0)] = 2
    reported_model: Literal["teacher", "student"] = Field(
        "teacher", description="the model saved for evaluate and score (acquisition)"
    )

    @model_validator(mode="after")
    def _jitter_range(self) -> S4ALSettings:
        low, high = self.jitter
        if not 0 < low <= high:
            raise ValueError(f"jitter must be (low, high) with 0 < low <= high, got {self.jitter}")
        return self
