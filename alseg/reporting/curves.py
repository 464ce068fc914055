"""AL curves: one run's (clicks, mIoU) points, and the mean and band of a method over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def method_name(config: dict) -> str:
    """The method an experiment runs (everything but the seed): ``policy/region/label/trainer``,
    e.g. ``entropy/seeds/dominant/supervised``; curves of one method are averaged over seeds."""
    return "/".join((config["acquisition"]["policy"], config["region"]["type"],
                     config["label"]["type"], config["train"]["trainer"]))  # fmt: skip


@dataclass(frozen=True)
class Curve:
    """One run's AL curve: x (R,) (clicks or % of pool cost) and mIoU (R,) in %, per round."""

    method: str
    x: np.ndarray
    miou: np.ndarray


@dataclass(frozen=True)
class Band:
    """A method's curve over n seeds, per round r < the shortest run's rounds: mean x, mean mIoU
    and the band [low, high] = [min, max] of mIoU over the seeds (low = high = mean for n = 1)."""

    method: str
    n_runs: int
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def bands(curves: list[Curve]) -> list[Band]:
    """Group ``curves`` by method (sorted by name) and reduce each group round by round."""
    out = []
    for method in sorted({c.method for c in curves}):
        group = [c for c in curves if c.method == method]
        rounds = min(len(c.miou) for c in group)
        x = np.stack([np.asarray(c.x[:rounds], float) for c in group])
        y = np.stack([np.asarray(c.miou[:rounds], float) for c in group])
        out.append(Band(method, len(group), x.mean(0), y.mean(0), y.min(0), y.max(0)))
    return out
