import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).parents[1]
CAMVID = Path(os.environ.get("ALSEG_CAMVID", REPO.parent / "shared" / "data" / "camvid"))


@pytest.fixture(autouse=True)
def _own_mlflow_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI in os.environ, where the next
    test's runs would find it and log into this test's store: every test starts without it
    and leaves the environment as it found it (monkeypatch restores at teardown)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def write_folder_dataset(
    root: Path,
    n_train: int = 6,
    n_val: int = 3,
    size=(40, 48),
    num_classes: int = 4,
    void: int = 4,
    seed: int = 0,
) -> Path:
    """A tiny CamVid-layout dataset of random blocks (train/, trainannot/, val/, valannot/)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            label = rng.integers(0, num_classes, (size[0] // 8, size[1] // 8)).astype(np.uint8)
            label = cv2.resize(label, size[::-1], interpolation=cv2.INTER_NEAREST)
            label[:2, :2] = void
            image = (label[..., None] * 50 + rng.integers(0, 30, (*size, 3))).astype(np.uint8)
            cv2.imwrite(str(root / split / f"img{i:03d}.png"), image)
            cv2.imwrite(str(root / f"{split}annot" / f"img{i:03d}.png"), label)
    classes = [f"c{i}" for i in range(num_classes)]
    (root / "classes.json").write_text(json.dumps({"classes": classes, "ignore_index": void}))
    return root


def prepare_pool(tmp: Path, n_train: int, n_val: int, kind: str = "grid", size: int = 8) -> Path:
    """Stage helper: a generated folder dataset prepared at 32x48 into tmp/prepared and its
    regions (``kind``, ``size``) into tmp/regions; returns tmp."""
    from alseg.config import DataConfig, RegionConfig
    from alseg.stages import prepare, regions

    root = write_folder_dataset(tmp / "data", n_train=n_train, n_val=n_val)
    prepare.run(DataConfig(dataset="camvid", root=str(root), image_size=(32, 48), workers=1),
                tmp / "prepared")  # fmt: skip
    regions.run(RegionConfig(type=kind, size=size), tmp / "prepared", tmp / "regions", 1)
    return tmp


def label_round_zero_and_train(params: dict, tmp: Path) -> None:
    """Stage helper: round-0 init + oracle into tmp/init, tmp/labels, then a 2-step model in
    tmp/model (needs tmp/prepared and tmp/regions)."""
    from alseg.config import ModelConfig, TrainConfig
    from alseg.data.prepared import PreparedDataset
    from alseg.stages import labeling
    from alseg.train import save_checkpoint, train_model

    labeling.run_init(params, tmp / "prepared", tmp / "regions", tmp / "init")
    labeling.run_oracle(params, 0, tmp / "init", tmp / "prepared", tmp / "regions", tmp / "init",
                        tmp / "labels")  # fmt: skip
    data = PreparedDataset.open(tmp / "prepared")
    model, _ = train_model(
        data.images("train"), np.load(tmp / "labels" / "targets.npy"),
        np.load(tmp / "labels" / "target_images.npy"), data.num_classes, ModelConfig(),
        TrainConfig(iterations=2, batch_size=2), seed=0, device="cpu", log_every=0,
    )  # fmt: skip
    (tmp / "model").mkdir()
    save_checkpoint(model, tmp / "model", {"num_classes": data.num_classes,
                                           "model": ModelConfig().model_dump()})  # fmt: skip


@pytest.fixture
def folder_dataset(tmp_path: Path) -> Path:
    return write_folder_dataset(tmp_path / "data")


@pytest.fixture
def camvid_root() -> Path:
    if not (CAMVID / "train").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (set ALSEG_CAMVID)")
    return CAMVID


# Under CI=true these tests must run: a skip (no S3 binary, no schema, no CamVid) is a failure.
MUST_RUN_UNDER_CI = ("tests/integration/", "tests/manifests/")


def must_run_under_ci(item: pytest.Item) -> bool:
    """Real-server and schema tests (by folder) and tests that read CamVid."""
    return item.nodeid.startswith(MUST_RUN_UNDER_CI) or "camvid_root" in getattr(
        item, "fixturenames", ()
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("CI", "").lower() == "true"):
        return
    if hasattr(report, "wasxfail") or not must_run_under_ci(item):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where this test must run: {reason}"
