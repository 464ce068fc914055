"""Acquisition policies: what the score stage keeps per region, and how select ranks regions.

Two steps, so that the pool is read once and class-balancing sees the whole pool:

1. ``region_statistics(probs, regions, n_regions, policy)`` per pool batch (score stage) ->
   ``score (B, R)`` (NaN = no such region), ``vector (B, R, K)`` per-class statistics and
   ``pred_class (B, R)`` (dominant predicted class), as the policy needs:

   | policy | score | vector (K = C) | pred_class |
   |---|---|---|---|
   | random / entropy / least_confidence / margin / bvsb | aggregated uncertainty | - | - |
   | classbal (Cai) | mean BvSB | - | mode of argmax p |
   | pixbal (MulActSeg) | mean BvSB | mean over r of B(x) [yhat(x) = c] | - |
   | cbal (OREAL's adaptation) | mean entropy | mean p(x) | - |
   | oreal | max_c H_c(r) | H_c(r), OVR entropy aggregated | - |

   PixBal is exact in one pass: s(r) = (1/|r|) sum_x B(x) w_{yhat(x)} = sum_c w_c vector_{r,c},
   with the class prior accumulated over the same pass (per-batch means, as MulActSeg does).
2. ``region_scores(...)`` in the select stage turns them into one score per region; OREAL selects
   per class instead (``alseg.acquisition.oreal``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alseg.acquisition.aggregate import (
    aggregate_regions,
    region_class_histogram,
    region_class_sums,
)
from alseg.acquisition.balanced import (
    cbal_region_scores,
    cbal_region_statistics,
    classbal_region_scores,
    pixbal_weights,
)
from alseg.acquisition.oreal import items_per_class, region_ovr_scores
from alseg.acquisition.uncertainty import MEASURES, bvsb, pixel_uncertainty, top_two_with_argmax

UNCERTAINTY_POLICIES = ("random", *MEASURES)
CLASS_POLICIES = ("classbal", "pixbal", "cbal", "oreal")
POLICIES = (*UNCERTAINTY_POLICIES, *CLASS_POLICIES)


@dataclass
class RegionStatistics:
    score: torch.Tensor  # (B, R) float, NaN = region absent
    vector: torch.Tensor | None = None  # (B, R, C)
    pred_class: torch.Tensor | None = None  # (B, R) int64


def region_statistics(
    probs: torch.Tensor,
    regions: torch.Tensor,
    n_regions: int,
    policy: str,
    aggregation: str = "mean",
    ovr_kind: str = "ovr_entropy",
) -> RegionStatistics:
    """Per-region statistics of one batch: probs (B, C, H, W), regions (B, H, W) -> see above."""
    if policy in MEASURES:
        uncertainty = pixel_uncertainty(probs, policy)
        return RegionStatistics(aggregate_regions(uncertainty, regions, n_regions, aggregation))
    if policy in ("classbal", "pixbal"):
        p1, p2, predicted = top_two_with_argmax(probs.float())
        uncertainty = bvsb(p1, p2)
        histogram = region_class_histogram(predicted, regions, n_regions, probs.shape[1])
        if policy == "classbal":
            score = aggregate_regions(uncertainty, regions, n_regions, "mean")
            return RegionStatistics(score, pred_class=histogram.argmax(-1))
        # PixBal: per-class sums give both the vector and the mean BvSB (their sum over c)
        sums = region_class_sums(uncertainty, predicted, regions, n_regions, probs.shape[1])
        pixels = histogram.sum(-1, keepdim=True)
        vector = (sums / pixels.clamp_min(1)).float()
        score = torch.where(pixels[..., 0] > 0, vector.sum(-1), torch.nan)
        return RegionStatistics(score, vector=vector)
    if policy == "cbal":
        score, vector = cbal_region_statistics(probs, regions, n_regions)
        return RegionStatistics(score, vector=vector)
    if policy == "oreal":
        vector = region_ovr_scores(probs, regions, n_regions, how=aggregation, kind=ovr_kind)
        return RegionStatistics(vector.amax(dim=-1), vector=vector)
    raise ValueError(f"policy '{policy}' has no region statistics; expected one of {POLICIES}")


def region_scores(
    policy: str,
    score: np.ndarray,
    vector: np.ndarray | None,
    pred_class: np.ndarray | None,
    labelled: np.ndarray,
    class_counts: np.ndarray,
    budget: int,
    class_prior: np.ndarray | None = None,
    nu: float = 12.0,
    cbal_lambda: float = 2.0,
    background: int | None = None,
) -> np.ndarray:
    """One score per region (N,) from the pool statistics (larger = query first).

    score (N,), vector (N, C), pred_class (N,), labelled (N,) bool, class_counts (C,) = labelled
    regions per class (n_c), budget = clicks this round (Q of ItemsPerClass).
    """
    num_classes = len(class_counts)
    if policy in UNCERTAINTY_POLICIES:
        return score
    if policy == "classbal":
        return classbal_region_scores(score, pred_class, num_classes, labelled)
    if policy == "pixbal":
        weights = pixbal_weights(torch.as_tensor(class_prior, dtype=torch.float32), nu).numpy()
        return vector @ weights
    if policy == "cbal":
        delta = items_per_class(class_counts, budget, background).astype(np.float64)
        return cbal_region_scores(score, vector, delta, cbal_lambda, labelled)
    raise ValueError(f"policy '{policy}' selects per class (oreal) or is unknown")
