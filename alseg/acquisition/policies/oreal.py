"""OREAL (ALGORITHMS.md §3.6): one-vs-rest class entropy per region and class, H_c(r), picked
per class (ItemsPerClass under dominant labels, the weak variant under multi-class labels).

Score stage: vector = H_c(r) (B, R, C) (``ovr_kind`` per pixel, ``aggregation`` per region),
score = max_c H_c(r).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from alseg.acquisition import policies


class OrealSettings(policies.ItemsPerClassSettings):
    aggregation: policies.Aggregation = "mean"
    ovr_kind: Literal["ovr_entropy", "prob_x_entropy"] = Field(
        "ovr_entropy", description="per-class pixel score (prob_x_entropy: the ablation)"
    )


@policies.register
class Oreal(policies.ItemsPerClassPolicy):
    name = "oreal"
    Settings = OrealSettings

    def region_statistics(self, batch: policies.PoolBatch) -> policies.RegionStatistics:
        from alseg.acquisition.oreal import region_ovr_scores

        how, kind = self.settings.aggregation, self.settings.ovr_kind
        vector = region_ovr_scores(batch.probs, batch.regions, batch.n_regions, how, kind)
        return policies.RegionStatistics(vector.amax(dim=-1), vector=vector)

    def select(self, pool: policies.SelectPool) -> tuple[np.ndarray, np.ndarray]:
        from alseg.acquisition.oreal import oreal_select, oreal_select_weak

        if pool.label_type == "dominant":
            picked = oreal_select(pool.vector, self.items_per_class(pool), pool.eligible)
        else:
            background = self.settings.background_class
            picked = oreal_select_weak(pool.vector, pool.eligible, pool.costs, pool.clicks,
                                       pool.class_counts, background)  # fmt: skip
        return picked, np.nan_to_num(pool.score)
