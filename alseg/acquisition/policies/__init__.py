"""Acquisition policies: one registered ``Policy`` per ``acquisition.policy`` (as baal's
heuristics). A policy says what the score stage keeps per region, how the select stage ranks
(or picks) regions, what it needs (a model, a pool-wide class prior, pixel-pool support) and
its own settings (``acquisition.<name>`` in a config).

Two steps, so that the pool is read once and class-balancing sees the whole pool:

1. ``region_statistics(batch)`` per pool batch (score stage) -> ``score (B, R)`` (NaN = no such
   region), ``vector (B, R, K)`` per-class statistics and ``pred_class (B, R)``; pixel pools
   call ``pixel_uncertainty(batch)`` -> ``(B, H, W)`` instead.
2. ``select(pool)`` in the select stage: by default ``region_scores(pool)`` (one score per
   region, larger = query first) taken best-first under the click budget. A policy that ranks
   the stored score as it is (``ranks_score``) is served by ``select_stream`` instead: the
   scores table read one batch at a time, only the best candidates held (same picks).

A new policy = a ``Policy`` subclass decorated with ``@register`` in a module listed in
``POLICY_MODULES``. Policy modules import only numpy and pydantic at the top (config
validation reads them on a client without torch); the math is imported inside the methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alseg.registry import Registry

if TYPE_CHECKING:
    import torch

    from alseg.acquisition.select import ScoreBatch, StreamedSelection

__all__ = [
    "ItemsPerClassPolicy",
    "ItemsPerClassSettings",
    "Policy",
    "PolicySettings",
    "PoolBatch",
    "RegionStatistics",
    "SelectPool",
    "get_policy",
    "policy_names",
    "register",
]

POLICY_MODULES = (
    "alseg.acquisition.policies.uncertainty",
    "alseg.acquisition.policies.classbal",
    "alseg.acquisition.policies.pixbal",
    "alseg.acquisition.policies.cbal",
    "alseg.acquisition.policies.oreal",
)
POLICIES: Registry[type[Policy]] = Registry("policy", POLICY_MODULES)

Aggregation = Annotated[
    Literal["mean", "max", "p95"], Field(description="pixel -> region reduction")
]
TopFraction = Annotated[
    float,
    Field(
        gt=0, le=1, description="pixel pools: per image, sample from this most uncertain fraction"
    ),
]
BackgroundClass = Annotated[
    int | None,
    Field(ge=0, description="class whose labelled count is forced to 0 (oversampled)"),
]


class PolicySettings(BaseModel):
    """A policy's own settings (none by default); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class PoolBatch:
    """One batch of the pool in the score stage.

    probs (B, C, H, W) softmax on ``device`` (None when the policy needs no model); regions
    (B, H, W) int64 ids in [-1, n_regions) (pixel pools: flat ids y W + x, -1 = void);
    ``start`` = pool index of the batch's first image; ``seed`` = the round's score seed;
    ``generator`` = the pool-wide torch generator (pixel pools' random draws).
    """

    probs: torch.Tensor | None
    regions: torch.Tensor
    n_regions: int
    start: int
    seed: int
    generator: torch.Generator | None = None


@dataclass
class RegionStatistics:
    score: torch.Tensor  # (B, R) float, NaN = region absent
    vector: torch.Tensor | None = None  # (B, R, C)
    pred_class: torch.Tensor | None = None  # (B, R) int64


@dataclass(frozen=True)
class SelectPool:
    """The pool as the select stage sees it, N = rows of the regions table.

    score (N,) float32, vector (N, K), pred_class (N,) int16 (scores table, NaN / -1 where not
    scored); labelled, eligible (N,) bool; costs (N,) int clicks; class_counts (C,) n_c of the
    labelled regions; class_prior (C,) or None (score stage's pool prior); clicks = this
    round's budget; label_type = the configured label type.
    """

    score: np.ndarray
    vector: np.ndarray
    pred_class: np.ndarray
    labelled: np.ndarray
    eligible: np.ndarray
    costs: np.ndarray
    class_counts: np.ndarray
    class_prior: np.ndarray | None
    clicks: int
    overshoot: bool
    label_type: str


class Policy:
    """One acquisition policy. Subclasses set ``name`` (and ``Settings`` when they take any),
    implement ``region_statistics`` and ``region_scores`` (or ``select``), and
    ``pixel_uncertainty`` when ``pixel_pools``."""

    name: ClassVar[str]
    Settings: ClassVar[type[PolicySettings]] = PolicySettings
    needs_model: ClassVar[bool] = True  # random: False (no forward pass)
    needs_prior: ClassVar[bool] = False  # a pool-wide class prior from the score stage
    pixel_pools: ClassVar[bool] = False  # region.type 'pixel' (PixelPick) supported
    # region_scores(pool) is pool.score as stored: select_stream ranks the scores table batch by
    # batch (a subclass that computes its scores from the pool leaves this False)
    ranks_score: ClassVar[bool] = False

    def __init__(self, settings: PolicySettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        raise NotImplementedError

    def pixel_uncertainty(self, batch: PoolBatch) -> torch.Tensor:
        """Per-pixel uncertainty (B, H, W) of a pixel pool's batch (larger = more uncertain)."""
        raise NotImplementedError(f"policy '{self.name}' does not support pixel pools")

    def region_scores(self, pool: SelectPool) -> np.ndarray:
        """One score per region (N,) (larger = query first; NaN = never)."""
        raise NotImplementedError

    def select(self, pool: SelectPool) -> tuple[np.ndarray, np.ndarray]:
        """(picked rows int64 in selection order, scores (N,) float32 for the queries table):
        ``region_scores`` taken best-first among eligible regions within ``pool.clicks``."""
        from alseg.acquisition.select import select_under_budget

        scores = self.region_scores(pool).astype(np.float32, copy=False)  # no pool-size copy
        picked = select_under_budget(scores, pool.costs, pool.clicks, eligible=pool.eligible,
                                     overshoot=pool.overshoot)  # fmt: skip
        return picked, scores

    def select_stream(self, batches: Callable[[], Iterable[ScoreBatch]], clicks: int,
                      overshoot: bool) -> StreamedSelection | None:  # fmt: skip
        """``select(pool)`` without the pool, for a policy that ``ranks_score``: ``batches()``
        reads the stored scores from the start in row order (``select.ScoreBatch``: first row,
        score, costs, eligible); the same picks, holding the best candidates only
        (``select.select_streaming``). None when the policy needs the whole pool."""
        if not self.ranks_score:
            return None
        from alseg.acquisition.select import select_streaming

        return select_streaming(batches, clicks, overshoot)


class ItemsPerClassSettings(PolicySettings):
    """Settings of a policy that shares the budget out over classes with ItemsPerClass."""

    background_class: BackgroundClass = None


class ItemsPerClassPolicy(Policy):
    """A policy whose select step shares the click budget out over classes with OREAL's
    ItemsPerClass (ALGORITHMS.md §3.6): delta_c items for class c levelling the labelled-region
    counts n_c (OREAL, CBAL)."""

    Settings: ClassVar[type[PolicySettings]] = ItemsPerClassSettings

    def items_per_class(self, pool: SelectPool) -> np.ndarray:
        """delta (C,) int64 = ItemsPerClass(n = pool.class_counts, Q = pool.clicks), n of the
        configured background class set to 0."""
        from alseg.acquisition.oreal import items_per_class

        return items_per_class(pool.class_counts, pool.clicks, self.settings.background_class)


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make ``cls`` the policy named ``cls.name``."""
    POLICIES[cls.name] = cls
    return cls


def policy_names() -> list[str]:
    return POLICIES.names()


def get_policy(name: str, settings: PolicySettings | None = None) -> Policy:
    """The policy ``name`` with ``settings`` (its defaults when None); ValueError if unknown."""
    return POLICIES.lookup(name)(settings)
