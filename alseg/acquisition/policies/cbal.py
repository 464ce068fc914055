"""CBAL as adapted by OREAL (ALGORITHMS.md §3.5): score(r) = H̄(r) - lam || p̄(r) - delta /
sum(delta) ||_1, H̄ the region's mean pixel entropy, p̄ its mean probabilities, delta the
ItemsPerClass counts of this round (``balanced.cbal_region_scores``).

Score stage: score = H̄ (B, R), vector = p̄ (B, R, C).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from alseg.acquisition import policies


class CbalSettings(policies.ItemsPerClassSettings):
    lam: Annotated[float, Field(ge=0, description="weight of the class-balance term")] = 2.0


@policies.register
class Cbal(policies.ItemsPerClassPolicy):
    name = "cbal"
    Settings = CbalSettings

    def region_statistics(self, batch: policies.PoolBatch) -> policies.RegionStatistics:
        from alseg.acquisition.balanced import cbal_region_statistics

        score, vector = cbal_region_statistics(batch.probs, batch.regions, batch.n_regions)
        return policies.RegionStatistics(score, vector=vector)

    def region_scores(self, pool: policies.SelectPool) -> np.ndarray:
        from alseg.acquisition.balanced import cbal_region_scores

        delta = self.items_per_class(pool).astype(np.float64)
        return cbal_region_scores(pool.score, pool.vector, delta, self.settings.lam, pool.labelled)
