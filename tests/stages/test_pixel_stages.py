"""PixelPick through the real regions, init, score, select and oracle stages on a tiny pool."""

from pathlib import Path

import numpy as np
import pytest
import torch

from alseg.acquisition.uncertainty import pixel_uncertainty
from alseg.config import AcquisitionConfig, DataConfig, RegionConfig, TrainConfig
from alseg.data.prepared import PreparedDataset
from alseg.stages import labeling, model_stages, prepare, regions
from alseg.stages.common import read_json
from alseg.tables import read_table
from alseg.train import load_checkpoint, to_input

SIZE = (32, 48)
K = int(SIZE[0] * SIZE[1] * 0.05)  # top-5% candidates per image


def _pairs(table) -> set[tuple[int, int]]:
    return set(zip(table["image_index"].to_pylist(), table["region_id"].to_pylist(), strict=True))


@pytest.fixture(scope="module")
def pixel_pool(tmp_path_factory) -> dict:
    from tests.conftest import label_round_zero_and_train, write_folder_dataset

    tmp = tmp_path_factory.mktemp("pixels")
    root = write_folder_dataset(tmp / "data", n_train=5, n_val=2)  # top-left 2x2 is void
    prepare.run(DataConfig(dataset="camvid", root=str(root), image_size=SIZE, workers=1),
                tmp / "prepared")  # fmt: skip
    meta = regions.run(RegionConfig(type="pixel"), tmp / "prepared", tmp / "regions")
    params = {
        "seed": 0, "device": "cpu", "label": {"type": "dominant"},
        "train": TrainConfig().model_dump(),
        "budget": {"initial_clicks": 12, "clicks_per_round": 11, "overshoot": False},
    }  # fmt: skip
    label_round_zero_and_train(params, tmp)
    data = PreparedDataset.open(tmp / "prepared")
    return {"tmp": tmp, "params": params, "meta": meta, "gt": data.labels("train")}


def test_pixel_maps_and_round_zero(pixel_pool) -> None:
    tmp, gt = pixel_pool["tmp"], pixel_pool["gt"]
    maps = np.load(tmp / "regions" / "train_regions.npy")
    assert maps[0, 3, 5] == 3 * SIZE[1] + 5 and (maps[gt == 255] == -1).all()
    assert pixel_pool["meta"]["n_regions"] == int((gt != 255).sum())
    assert read_json(tmp / "init" / "meta.json")["pool_cost"] == int((gt != 255).sum())
    labels = read_table(tmp / "labels" / "labels.parquet", "labels")
    # 12 clicks over 5 images: 2 or 3 pixels each, one click per pixel, never void
    assert len(labels) == 12 and labels["cost"].to_pylist() == [1] * 12
    per_image = np.bincount(labels["image_index"].to_numpy(), minlength=5)
    assert sorted(per_image.tolist()) == [2, 2, 2, 3, 3]
    ys, xs = np.divmod(labels["region_id"].to_numpy(), SIZE[1])
    truth = gt[labels["image_index"].to_numpy(), ys, xs]
    assert (truth != 255).all() and labels["dominant"].to_numpy().tolist() == truth.tolist()
    targets = np.load(tmp / "labels" / "targets.npy")
    assert int((targets != 255).sum()) == 12


@pytest.mark.parametrize("policy", ["random", "entropy", "margin", "least_confidence"])
def test_pixelpick_round(pixel_pool, policy: str) -> None:
    tmp, params, gt = pixel_pool["tmp"], pixel_pool["params"], pixel_pool["gt"]
    params = {**params, "acquisition": AcquisitionConfig(policy=policy, batch_size=2).model_dump()}
    out = tmp / policy
    model_stages.run_score(params, 0, tmp / "prepared", tmp / "regions", tmp / "model",
                           out / "scores", tmp / "labels")  # fmt: skip
    scored = read_table(out / "scores" / "scores.parquet", "scores")
    labels = read_table(tmp / "labels" / "labels.parquet", "labels")
    # step 1: exactly k candidates per image, none void, none labelled, the most uncertain ones
    assert np.bincount(scored["image_index"].to_numpy()).tolist() == [K] * 5
    assert not _pairs(scored) & _pairs(labels)
    ys, xs = np.divmod(scored["region_id"].to_numpy(), SIZE[1])
    assert (gt[scored["image_index"].to_numpy(), ys, xs] != 255).all()
    if policy != "random":  # no remaining pixel is more uncertain than a candidate
        _assert_candidates_are_the_most_uncertain(tmp, policy, scored, labels, gt)
    summary = labeling.run_select(params, 1, out / "scores", tmp / "init", tmp / "labels",
                                  tmp / "regions", out / "queries")  # fmt: skip
    queries = read_table(out / "queries" / "queries.parquet", "queries")
    # step 2: 11 clicks = 2 or 3 per image, drawn among the candidates
    assert summary["clicks"] == 11 and _pairs(queries) <= _pairs(scored)
    assert sorted(np.bincount(queries["image_index"].to_numpy()).tolist()) == [2, 2, 2, 2, 3]
    labeling.run_oracle(params, 1, out / "queries", tmp / "prepared", tmp / "regions",
                        tmp / "init", out / "labels", tmp / "labels")  # fmt: skip
    merged = read_json(out / "labels" / "summary.json")
    assert merged["clicks_total"] == 23 and merged["labelled_pixels"] == 23


def test_pixel_score_is_deterministic(pixel_pool, tmp_path: Path) -> None:
    tmp, params = pixel_pool["tmp"], pixel_pool["params"]
    params = {**params, "acquisition": AcquisitionConfig(policy="margin").model_dump()}
    for name in ("a", "b"):
        model_stages.run_score(params, 0, tmp / "prepared", tmp / "regions", tmp / "model",
                               tmp_path / name, tmp / "labels")  # fmt: skip
    a, b = (read_table(tmp_path / n / "scores.parquet", "scores") for n in ("a", "b"))
    assert a.equals(b)


def _assert_candidates_are_the_most_uncertain(tmp: Path, policy: str, scored, labels,
                                              gt: np.ndarray) -> None:  # fmt: skip
    model, _ = load_checkpoint(tmp / "model", "cpu")
    images = PreparedDataset.open(tmp / "prepared").images("train")
    with torch.no_grad():
        probs = torch.softmax(model(to_input(images, model)).float(), dim=1)
    u = pixel_uncertainty(probs, policy).reshape(len(images), -1).numpy()
    u[(gt == 255).reshape(len(images), -1)] = -np.inf
    u[labels["image_index"].to_numpy(), labels["region_id"].to_numpy()] = -np.inf
    chosen = np.zeros_like(u, bool)
    chosen[scored["image_index"].to_numpy(), scored["region_id"].to_numpy()] = True
    for image in range(len(u)):
        assert u[image][chosen[image]].min() >= u[image][~chosen[image]].max() - 1e-6
