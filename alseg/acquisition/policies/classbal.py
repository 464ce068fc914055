"""ClassBal (Cai et al., ALGORITHMS.md §3.3): mean BvSB per region, weighted by how rare the
region's dominant predicted class is in the pool (``balanced.classbal_region_scores``).

Score stage: score = mean BvSB (B, R), pred_class = mode of argmax p over the region (B, R).
"""

from __future__ import annotations

import numpy as np

from alseg.acquisition.policies import Policy, PoolBatch, RegionStatistics, SelectPool, register


@register
class ClassBal(Policy):
    name = "classbal"

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        from alseg.acquisition.aggregate import aggregate_regions, region_class_histogram
        from alseg.acquisition.uncertainty import bvsb, top_two_with_argmax

        p1, p2, predicted = top_two_with_argmax(batch.probs.float())
        histogram = region_class_histogram(predicted, batch.regions, batch.n_regions,
                                           batch.probs.shape[1])  # fmt: skip
        score = aggregate_regions(bvsb(p1, p2), batch.regions, batch.n_regions, "mean")
        return RegionStatistics(score, pred_class=histogram.argmax(-1))

    def region_scores(self, pool: SelectPool) -> np.ndarray:
        from alseg.acquisition.balanced import classbal_region_scores

        return classbal_region_scores(pool.score, pool.pred_class, len(pool.class_counts),
                                      pool.labelled)  # fmt: skip
