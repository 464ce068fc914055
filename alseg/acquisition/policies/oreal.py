"""OREAL (ALGORITHMS.md §3.6): one-vs-rest class entropy per region and class, H_c(r), picked
per class (ItemsPerClass under dominant labels, the weak variant under multi-class labels).

Score stage: vector = H_c(r) (B, R, C) (``ovr_kind`` per pixel, ``aggregation`` per region),
score = max_c H_c(r).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from alseg.acquisition.policies import (
    Aggregation,
    BackgroundClass,
    Policy,
    PolicySettings,
    PoolBatch,
    RegionStatistics,
    SelectPool,
    register,
)


class OrealSettings(PolicySettings):
    aggregation: Aggregation = "mean"
    ovr_kind: Literal["ovr_entropy", "prob_x_entropy"] = Field(
        "ovr_entropy", description="per-class pixel score (prob_x_entropy: the ablation)"
    )
    background_class: BackgroundClass = None


@register
class Oreal(Policy):
    name = "oreal"
    Settings = OrealSettings

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        from alseg.acquisition.oreal import region_ovr_scores

        how, kind = self.settings.aggregation, self.settings.ovr_kind
        vector = region_ovr_scores(batch.probs, batch.regions, batch.n_regions, how, kind)
        return RegionStatistics(vector.amax(dim=-1), vector=vector)

    def select(self, pool: SelectPool) -> tuple[np.ndarray, np.ndarray]:
        from alseg.acquisition.oreal import items_per_class, oreal_select, oreal_select_weak

        background = self.settings.background_class
        if pool.label_type == "dominant":
            delta = items_per_class(pool.class_counts, pool.clicks, background)
            picked = oreal_select(pool.vector, delta, pool.eligible)
        else:
            picked = oreal_select_weak(pool.vector, pool.eligible, pool.costs, pool.clicks,
                                       pool.class_counts, background)  # fmt: skip
        return picked, np.nan_to_num(pool.score)
