"""Random and the pixel-uncertainty policies (ALGORITHMS.md §3.1-§3.2, §3.8).

- ``random``: one uniform draw per region present (``select.random_scores``, seeded by the
  round and the batch start); on pixel pools a uniform map (PixelPick's random baseline).
- ``entropy`` / ``least_confidence`` / ``margin`` / ``bvsb``: the pixel measure of
  ``alseg.acquisition.uncertainty`` reduced per region with ``aggregation``; ranked as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from alseg.acquisition.policies import (
    Aggregation,
    Policy,
    PolicySettings,
    PoolBatch,
    RegionStatistics,
    SelectPool,
    TopFraction,
    register,
)

if TYPE_CHECKING:
    import torch


class PixelSettings(PolicySettings):
    top_fraction: TopFraction = 0.05


class MeasureSettings(PolicySettings):
    aggregation: Aggregation = "mean"


class PixelMeasureSettings(PixelSettings, MeasureSettings):
    pass


@register
class Random(Policy):
    name = "random"
    Settings = PixelSettings
    needs_model = False
    pixel_pools = True
    ranks_score = True

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        import torch

        from alseg.acquisition.aggregate import aggregate_regions
        from alseg.acquisition.select import random_scores

        zeros = torch.zeros(batch.regions.shape, device=batch.regions.device)
        present = ~aggregate_regions(zeros, batch.regions, batch.n_regions, "max").isnan().cpu()
        noise = random_scores(present.numel(), batch.seed + batch.start).reshape(present.shape)
        return RegionStatistics(torch.where(present, torch.from_numpy(noise), torch.nan))

    def pixel_uncertainty(self, batch: PoolBatch) -> torch.Tensor:
        import torch

        uniform = torch.rand(batch.regions.shape, generator=batch.generator)
        return uniform.to(batch.regions.device)

    def region_scores(self, pool: SelectPool) -> np.ndarray:
        return pool.score


class Measure(Policy):
    """A pixel measure of ``alseg.acquisition.uncertainty`` named like the policy."""

    Settings = MeasureSettings
    ranks_score = True

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        from alseg.acquisition.aggregate import aggregate_regions

        uncertainty = self.pixel_uncertainty(batch)
        how = self.settings.aggregation
        return RegionStatistics(aggregate_regions(uncertainty, batch.regions, batch.n_regions, how))

    def pixel_uncertainty(self, batch: PoolBatch) -> torch.Tensor:
        from alseg.acquisition.uncertainty import pixel_uncertainty

        return pixel_uncertainty(batch.probs, self.name)

    def region_scores(self, pool: SelectPool) -> np.ndarray:
        return pool.score


@register
class Entropy(Measure):
    name = "entropy"
    Settings = PixelMeasureSettings
    pixel_pools = True


@register
class LeastConfidence(Measure):
    name = "least_confidence"
    Settings = PixelMeasureSettings
    pixel_pools = True


@register
class Margin(Measure):
    name = "margin"
    Settings = PixelMeasureSettings
    pixel_pools = True


@register
class BvSB(Measure):
    name = "bvsb"
