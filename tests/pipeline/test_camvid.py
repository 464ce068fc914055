"""Real CamVid (small subsets): decoding, void handling, full-resolution SEEDS, oracle purity."""

from pathlib import Path

import numpy as np
import pytest

from alseg import IGNORE, oracle
from alseg.config import load_config
from alseg.data.prepared import PreparedDataset
from alseg.stages import prepare, regions

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.camvid


def test_camvid_prepare_and_full_resolution_seeds(camvid_root: Path, tmp_path: Path) -> None:
    cfg = load_config(
        REPO / "configs" / "default-camvid.yaml",
        {"data.root": str(camvid_root), "data.max_train_images": 4, "data.max_val_images": 2},
    )
    prepare.run(cfg.data, tmp_path / "prepared")
    data = PreparedDataset.open(tmp_path / "prepared")
    assert data.num_classes == 11 and data.classes[0] == "Sky"
    assert data.split_sizes == {"train": 4, "val": 2} and data.image_size == (180, 240)
    gt = np.asarray(data.labels("train"))
    assert set(np.unique(gt)) <= set(range(11)) | {IGNORE}
    summary = regions.run(cfg.region, tmp_path / "prepared", tmp_path / "regions", workers=2)
    # SEEDS at 360x480 with N=256 -> 165 cells of 32x32 full-resolution pixels (ALGORITHMS 1.1)
    assert summary["max_regions_per_image"] == 165 and summary["n_regions"] == 4 * 165
    maps = np.load(tmp_path / "regions" / "train_regions.npy")
    counts = oracle.region_class_counts(gt[0], maps[0], 165, 11, IGNORE)
    purity = counts[:, :11].max(1).sum() / counts.sum()
    assert purity > 0.8  # dominant labels are mostly right (about 92% on CamVid, PLATFORM-NOTES)
