"""Every acquisition policy through the real score and select stages on a tiny pool."""

from pathlib import Path

import numpy as np
import pytest

from alseg.acquisition import policies as registry
from alseg.acquisition.policies import (
    Policy,
    PolicySettings,
    PoolBatch,
    RegionStatistics,
    SelectPool,
)
from alseg.config import AcquisitionConfig, DataConfig, RegionConfig, TrainConfig
from alseg.stages import labeling, model_stages, prepare, regions
from alseg.stages.common import read_json
from alseg.tables import read_table

POLICIES = ["random", "entropy", "least_confidence", "margin", "bvsb", "classbal", "pixbal",
            "cbal", "oreal"]  # fmt: skip


@pytest.fixture(scope="module")
def round_zero(tmp_path_factory) -> dict[str, Path]:
    from tests.conftest import label_round_zero_and_train, write_folder_dataset

    tmp = tmp_path_factory.mktemp("pool")
    root = write_folder_dataset(tmp / "data", n_train=6, n_val=2)
    prepare.run(DataConfig(dataset="camvid", root=str(root), image_size=(32, 48), workers=1),
                tmp / "prepared")  # fmt: skip
    regions.run(RegionConfig(type="grid", size=8), tmp / "prepared", tmp / "regions", 1)
    base = {
        "seed": 0,
        "label": {"type": "dominant"},
        "acquisition": AcquisitionConfig().model_dump(),
        "budget": {"initial_clicks": 10, "clicks_per_round": 12, "overshoot": False},
    }
    label_round_zero_and_train(base, tmp)
    return {"tmp": tmp, "base": base}


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_selects_unlabelled_regions_within_budget(round_zero, policy: str) -> None:
    tmp, base = round_zero["tmp"], round_zero["base"]
    acquisition = AcquisitionConfig(policy=policy, batch_size=4).model_dump()
    params = {
        **base,
        "device": "cpu",
        "train": TrainConfig().model_dump(),
        "acquisition": acquisition,
    }
    out = tmp / policy
    summary = model_stages.run_score(params, 0, tmp / "prepared", tmp / "regions", tmp / "model",
                                     out / "scores")  # fmt: skip
    assert summary["regions_scored"] == 6 * 24  # 6 images x (4 x 6) cells of 8x8
    meta = read_json(out / "scores" / "meta.json")
    assert meta["num_classes"] == 4
    picked = labeling.run_select(params, 1, out / "scores", tmp / "init", tmp / "labels",
                                 tmp / "regions", out / "queries")  # fmt: skip
    queries = read_table(out / "queries" / "queries.parquet", "queries")
    labels = read_table(tmp / "labels" / "labels.parquet", "labels")
    done = set(zip(labels["image_index"].to_pylist(), labels["region_id"].to_pylist(), strict=True))
    chosen = list(zip(queries["image_index"].to_pylist(), queries["region_id"].to_pylist(),
                      strict=True))  # fmt: skip
    assert picked["clicks"] == 12 and len(set(chosen)) == 12
    assert not set(chosen) & done
    if policy == "oreal":  # per-class picks: the classes with fewest labelled regions come first
        vector = read_table(out / "scores" / "scores.parquet", "scores")["vector"]
        assert len(vector[0]) == 4


def keys_of(table) -> list[tuple[int, int]]:
    return list(zip(table["image_index"].to_pylist(), table["region_id"].to_pylist(), strict=True))


class ClassZeroSettings(PolicySettings):
    power: float = 1.0


class ClassZero(Policy):
    """A toy policy: regions whose mean p_0 is largest first, scored as (mean p_0) ** power."""

    name = "class_zero"
    Settings = ClassZeroSettings

    def region_statistics(self, batch: PoolBatch) -> RegionStatistics:
        from alseg.acquisition.aggregate import aggregate_regions

        return RegionStatistics(
            aggregate_regions(batch.probs[:, 0], batch.regions, batch.n_regions, "mean")
        )

    def region_scores(self, pool: SelectPool) -> np.ndarray:
        return pool.score**self.settings.power


def test_a_policy_registered_in_a_test_runs_through_score_and_select(
    round_zero, monkeypatch
) -> None:
    monkeypatch.setitem(registry.POLICIES, "class_zero", ClassZero)
    tmp, base = round_zero["tmp"], round_zero["base"]
    acquisition = AcquisitionConfig(policy="class_zero", class_zero={"power": 2.0})
    assert acquisition.model_dump()["class_zero"] == {"power": 2.0}
    params = {**base, "device": "cpu", "train": TrainConfig().model_dump(),
              "acquisition": acquisition.model_dump()}  # fmt: skip
    out = tmp / "class_zero"
    model_stages.run_score(params, 0, tmp / "prepared", tmp / "regions", tmp / "model",
                           out / "scores")  # fmt: skip
    labeling.run_select(params, 1, out / "scores", tmp / "init", tmp / "labels", tmp / "regions",
                        out / "queries")  # fmt: skip
    scored = read_table(out / "scores" / "scores.parquet", "scores")
    labels = read_table(tmp / "labels" / "labels.parquet", "labels")
    done = set(zip(labels["image_index"].to_pylist(), labels["region_id"].to_pylist(), strict=True))
    keys = list(
        zip(scored["image_index"].to_pylist(), scored["region_id"].to_pylist(), strict=True)
    )
    score = scored["score"].to_numpy()
    order = [i for i in np.argsort(-score, kind="stable") if keys[i] not in done][:12]
    queries = read_table(out / "queries" / "queries.parquet", "queries")
    assert keys_of(queries) == [keys[i] for i in order]
    assert queries["score"].to_numpy() == pytest.approx(score[order] ** 2)
