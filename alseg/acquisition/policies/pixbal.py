"""PixBal (MulActSeg, ALGORITHMS.md §3.4): s(r) = (1/|r|) sum_{x in r} B(x) w_{yhat(x)}, BvSB
weighted by w_c = (1 + nu rho_c)^-2 of the pixel's predicted class, rho = the pool's mean
probabilities (per-batch means, as MulActSeg; accumulated by the score stage).

Exact in one pass: the score stage keeps vector_{r,c} = mean over r of B(x) [yhat(x) = c], so
s(r) = sum_c w_c vector_{r,c} once rho is known (select stage).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from alseg.acquisition import policies


class PixBalSettings(policies.PolicySettings):
    nu: Annotated[
        float, Field(ge=0, description="class-weight coefficient: 6 Cityscapes, 12 VOC")
    ] = 12.0


@policies.register
class PixBal(policies.Policy):
    name = "pixbal"
    Settings = PixBalSettings
    needs_prior = True

    def region_statistics(self, batch: policies.PoolBatch) -> policies.RegionStatistics:
        import torch

        from alseg.acquisition.aggregate import region_class_histogram, region_class_sums
        from alseg.acquisition.uncertainty import bvsb, top_two_with_argmax

        probs, regions, n_regions = batch.probs, batch.regions, batch.n_regions
        p1, p2, predicted = top_two_with_argmax(probs.float())
        histogram = region_class_histogram(predicted, regions, n_regions, probs.shape[1])
        # per-class sums give both the vector and the mean BvSB (their sum over c)
        sums = region_class_sums(bvsb(p1, p2), predicted, regions, n_regions, probs.shape[1])
        pixels = histogram.sum(-1, keepdim=True)
        vector = (sums / pixels.clamp_min(1)).float()
        score = torch.where(pixels[..., 0] > 0, vector.sum(-1), torch.nan)
        return policies.RegionStatistics(score, vector=vector)

    def region_scores(self, pool: policies.SelectPool) -> np.ndarray:
        from alseg.acquisition.balanced import pixbal_weights

        prior = np.asarray(pool.class_prior, dtype=np.float32)
        return pool.vector @ pixbal_weights(prior, self.settings.nu)
