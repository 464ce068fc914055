"""Uncertainty policies pinned through the real score and select stages on hand-made pools: a
model stub returns chosen per-pixel distributions over C = 8 classes on one 5 x 20 image of four
5 x 5 grid regions. The aggregation (mean / max / p95) of every uncertainty policy is pinned to
hand-computed region scores; each uncertainty policy's ranking is pinned on a pool where the four
policies put four different regions first, and ClassBal's, PixBal's and CBAL's on two pools where
they disagree with each other and with BvSB."""

from pathlib import Path

import numpy as np
import pytest
import torch

from alseg import checkpoints
from alseg.acquisition.policies import get_policy
from alseg.config import AcquisitionConfig, DataConfig, RegionConfig, TrainConfig
from alseg.stages import labeling, model_stages, prepare, regions
from alseg.tables import empty_table, read_table, write_table
from tests.conftest import write_folder_dataset

C = 8
MEASURES = ("entropy", "least_confidence", "margin", "bvsb")


def peaked(t: float) -> list[float]:
    """p_1 = t, the other seven classes (1 - t) / 7 each."""
    return [t] + [(1 - t) / 7] * 7


# ranking pool: region k is uniform with distribution RANKED[k]
RANKED = [
    [0.19, 0.12, 0.12, 0.12, 0.12, 0.11, 0.11, 0.11],  # E: highest entropy (2.062)
    [0.18, 0.13, 0.13, 0.13, 0.13, 0.13, 0.13, 0.04],  # L: lowest p1 (LC 0.82)
    [0.25, 0.22, 0.09, 0.09, 0.09, 0.09, 0.09, 0.08],  # M: smallest p1 - p2 (margin 0.97)
    [0.45, 0.41, 0.02, 0.02, 0.02, 0.02, 0.03, 0.03],  # B: largest p2 / p1 (BvSB 0.911)
]
# by hand from the rows above (values in the comments): the region order each policy queries
EXPECTED_ORDER = {
    "entropy": [0, 1, 2, 3],  # 2.062, 2.029, 1.965, 1.248
    "least_confidence": [1, 0, 2, 3],  # 0.82, 0.81, 0.75, 0.55
    "margin": [2, 3, 1, 0],  # 0.97, 0.96, 0.95, 0.93
    "bvsb": [3, 2, 1, 0],  # 0.911, 0.880, 0.722, 0.632
}


def uncertainty(p: list[float], measure: str) -> float:
    """The README's formulas on one distribution (float64)."""
    p = np.asarray(p, np.float64)
    p1, p2 = np.sort(p)[::-1][:2]
    return {
        "entropy": float(-(p * np.log(p)).sum()),
        "least_confidence": 1 - p1,
        "margin": 1 - (p1 - p2),
        "bvsb": p2 / p1,
    }[measure]


class FixedProbs(torch.nn.Module):
    """A 'model' whose softmax is the given (1, C, H, W) probabilities."""

    input_norm = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))

    def __init__(self, probs: np.ndarray) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.logits = torch.from_numpy(np.log(probs)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: x.shape[0]]


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """prepared / regions (4 grid regions of 25 pixels) / init (cost 1 each) / no labels."""
    tmp = tmp_path_factory.mktemp("ranking-pool")
    root = write_folder_dataset(tmp / "data", n_train=1, n_val=1, num_classes=C, void=C)
    prepare.run(DataConfig(dataset="camvid", root=str(root), image_size=(5, 20), workers=1),
                tmp / "prepared")  # fmt: skip
    regions.run(RegionConfig(type="grid", size=5), tmp / "prepared", tmp / "regions", 1)
    region_map = np.load(tmp / "regions" / "train_regions.npy")[0]
    assert np.bincount(region_map.ravel()).tolist() == [25] * 4
    (tmp / "init").mkdir()
    np.save(tmp / "init" / "costs.npy", np.ones(4, np.int32))
    write_table(empty_table("labels"), tmp / "labels" / "labels.parquet", "labels")
    return tmp


def probs_map(pool: Path, pixel_probs: dict[tuple[int, int], list[float]],
              region_probs: list[list[float]]) -> np.ndarray:  # fmt: skip
    """(1, C, 5, 20): region k's pixels get region_probs[k], except the (region, n)-th pixels
    in ``pixel_probs`` (n counts the region's pixels in row-major order)."""
    region_map = np.load(pool / "regions" / "train_regions.npy")[0]
    out = np.zeros((1, C, *region_map.shape))
    for k in range(4):
        ys, xs = np.nonzero(region_map == k)
        out[0, :, ys, xs] = region_probs[k]
        for (region, n), p in pixel_probs.items():
            if region == k:
                out[0, :, ys[n], xs[n]] = p
    return out


def score_and_select(pool: Path, tmp: Path, probs: np.ndarray, policy: str, how: str, mp):
    """Run the score and select stages; -> (region score by region id, region ids in order)."""
    mp.setattr(checkpoints, "load_model", lambda *a, **k: (FixedProbs(probs), {}))
    takes_aggregation = "aggregation" in get_policy(policy).Settings.model_fields
    settings = {policy: {"aggregation": how}} if takes_aggregation else {}
    params = {
        "seed": 0, "device": "cpu", "label": {"type": "dominant"},
        "train": TrainConfig().model_dump(),
        "acquisition": AcquisitionConfig(policy=policy, **settings).model_dump(),
        "budget": {"rounds": 2, "initial_clicks": 4, "clicks_per_round": 4, "overshoot": False},
    }  # fmt: skip
    model_stages.run_score(params, 0, pool / "prepared", pool / "regions", tmp / "model",
                           tmp / "scores", pool / "labels")  # fmt: skip
    labeling.run_select(params, 1, tmp / "scores", pool / "init", pool / "labels",
                        pool / "regions", tmp / "queries")  # fmt: skip
    scores = read_table(tmp / "scores" / "scores.parquet", "scores").to_pydict()
    by_region = dict(zip(scores["region_id"], scores["score"], strict=True))
    queries = read_table(tmp / "queries" / "queries.parquet", "queries").to_pydict()
    assert queries["rank"] == sorted(queries["rank"])
    return [by_region[k] for k in range(4)], queries["region_id"]


@pytest.mark.parametrize("measure", MEASURES)
def test_each_policy_ranks_by_its_own_score(pool, tmp_path, monkeypatch, measure) -> None:
    probs = probs_map(pool, {}, RANKED)
    scores, order = score_and_select(pool, tmp_path, probs, measure, "mean", monkeypatch)
    assert scores == pytest.approx([uncertainty(p, measure) for p in RANKED], abs=1e-5)
    assert order == EXPECTED_ORDER[measure]


def test_the_ranking_case_separates_every_pair_of_policies() -> None:
    orders = [tuple(order) for order in EXPECTED_ORDER.values()]
    assert len(set(orders)) == len(orders) and len({o[0] for o in orders}) == len(orders)
    for measure, order in EXPECTED_ORDER.items():  # the hand orders agree with the formulas
        values = [uncertainty(p, measure) for p in RANKED]
        assert order == sorted(range(4), key=lambda k: -values[k])


# class-balancing pools (uniform regions; region 3 alone predicts class 1): in P1 ClassBal's
# class weight lifts region 3 above region 0, which BvSB ranks first; in P2 (region 3 less
# uncertain) ClassBal's min-max normalisation keeps region 0 first while PixBal's prior
# weight still lifts region 3; CBAL's class-distribution term puts region 1 first in both.
BALANCED = {
    "P1": [
        [0.50, 0.40, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01],
        [0.45, 0.15, 0.10, 0.10, 0.05, 0.05, 0.05, 0.05],
        [0.60, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.10],
        [0.10, 0.50, 0.35, 0.01, 0.01, 0.01, 0.01, 0.01],
    ],
}
BALANCED["P2"] = [*BALANCED["P1"][:3], [0.10, 0.50, 0.25, 0.05, 0.04, 0.03, 0.02, 0.01]]
BALANCED_ORDER = {  # by hand from the formulas below
    ("P1", "bvsb"): [0, 3, 1, 2], ("P1", "classbal"): [3, 0, 1, 2],
    ("P1", "pixbal"): [3, 0, 1, 2], ("P1", "cbal"): [1, 3, 0, 2],
    ("P2", "bvsb"): [0, 3, 1, 2], ("P2", "classbal"): [0, 3, 1, 2],
    ("P2", "pixbal"): [3, 0, 1, 2], ("P2", "cbal"): [1, 3, 0, 2],
}  # fmt: skip


def balanced_scores(rows: list[list[float]], policy: str) -> np.ndarray:
    """README formulas for uniform regions of equal size, no region labelled yet, 4 clicks."""
    p = np.asarray(rows, np.float64)
    top = -np.sort(-p, axis=1)
    u, d = top[:, 1] / top[:, 0], p.argmax(1)  # mean BvSB, dominant predicted class
    if policy == "classbal":  # w_c = exp(-share of regions predicting c), u min-max normalised
        share = np.bincount(d, minlength=C) / len(d)
        return np.exp(-share[d]) * (u - u.min()) / (u.max() - u.min())
    if policy == "pixbal":  # BvSB x (1 + nu x prior of the predicted class)^-2, nu = 12
        return u * (1 + 12 * p.mean(0)[d]) ** -2
    # cbal: mean entropy - 2 x L1(mean p, ItemsPerClass target); no labels, 4 items -> classes
    # 0..3 get one each (ties go to the lowest class index)
    target = np.array([0.25] * 4 + [0.0] * 4)
    return -(p * np.log(p)).sum(1) - 2 * np.abs(p - target).sum(1)


@pytest.mark.parametrize("policy", ["classbal", "pixbal", "cbal"])
@pytest.mark.parametrize("case", ["P1", "P2"])
def test_class_balancing_policies_rank_by_their_own_score(pool, tmp_path, monkeypatch, case,
                                                          policy) -> None:  # fmt: skip
    rows = BALANCED[case]
    _, order = score_and_select(pool, tmp_path, probs_map(pool, {}, rows), policy, "mean",
                                monkeypatch)  # fmt: skip
    expected = balanced_scores(rows, policy)
    assert order == BALANCED_ORDER[case, policy] == list(np.argsort(-expected, kind="stable"))
    picked = read_table(tmp_path / "queries" / "queries.parquet", "queries")["score"]
    assert picked.to_numpy() == pytest.approx(expected[order], rel=1e-4, abs=1e-6)


def test_the_balancing_cases_separate_the_policies() -> None:
    for a, b in [("bvsb", "classbal"), ("classbal", "pixbal"), ("pixbal", "cbal"),
                 ("bvsb", "pixbal"), ("classbal", "cbal"), ("bvsb", "cbal")]:  # fmt: skip
        assert any(BALANCED_ORDER[c, a] != BALANCED_ORDER[c, b] for c in BALANCED), (a, b)
    for case, rows in BALANCED.items():
        values = [uncertainty(r, "bvsb") for r in rows]
        assert BALANCED_ORDER[case, "bvsb"] == sorted(range(4), key=lambda k: -values[k])


# aggregation pool: A = one very uncertain pixel (u) + one fairly uncertain (h) in certain ones
# (c); B = uniformly moderate (m); C' = two pixels of v (h < v < u) in c; D = all c.
# With 25 pixels, p95 is the value at rank ceil(0.95 x 25) = 24 of 25: h for A, v for C'.
c, h, u, v, m = (peaked(t) for t in (0.95, 0.5, 0.15, 0.3, 0.6))
AGGREGATION_POOL = ({(0, 3): u, (0, 17): h, (2, 8): v, (2, 20): v}, [c, m, c, c])
FIRST = {"mean": 1, "max": 0, "p95": 2}  # B leads on the mean, A on the max, C' on p95


def hand_region_scores(measure: str, how: str) -> list[float]:
    cu, hu, uu, vu, mu = (uncertainty(p, measure) for p in (c, h, u, v, m))
    pixels = [[cu] * 23 + [hu, uu], [mu] * 25, [cu] * 23 + [vu, vu], [cu] * 25]
    if how == "mean":
        return [sum(p) / 25 for p in pixels]
    if how == "max":
        return [max(p) for p in pixels]
    return [sorted(p)[23] for p in pixels]  # rank 24 of 25


@pytest.mark.parametrize("how", ["mean", "max", "p95"])
@pytest.mark.parametrize("measure", MEASURES)
def test_aggregation_is_applied_by_the_score_stage(pool, tmp_path, monkeypatch, measure, how):
    probs = probs_map(pool, *AGGREGATION_POOL)
    scores, order = score_and_select(pool, tmp_path, probs, measure, how, monkeypatch)
    assert scores == pytest.approx(hand_region_scores(measure, how), rel=1e-5, abs=1e-6)
    assert order[0] == FIRST[how]
