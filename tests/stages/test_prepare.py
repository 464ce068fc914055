from pathlib import Path

import numpy as np
import pytest

from alseg import IGNORE
from alseg.cli import main
from alseg.config import DataConfig
from alseg.data.prepared import PreparedDataset
from alseg.data.readers import DataError
from alseg.stages import prepare


def data_config(root: Path, **kw) -> DataConfig:
    return DataConfig(dataset="camvid", root=str(root), image_size=(20, 24), workers=2, **kw)


def test_prepare_resizes_and_maps_void(folder_dataset: Path, tmp_path: Path) -> None:
    summary = prepare.run(data_config(folder_dataset), tmp_path / "prepared")
    data = PreparedDataset.open(tmp_path / "prepared")
    assert summary["splits"] == {"train": 6, "val": 3}
    assert data.classes == ["c0", "c1", "c2", "c3"] and data.eval_split == "val"
    assert data.images("train").shape == (6, 20, 24, 3)
    labels = data.labels("train")
    assert labels.shape == (6, 20, 24)
    assert set(np.unique(labels)) <= {0, 1, 2, 3, IGNORE}
    assert labels[0, 0, 0] == IGNORE  # void id 4 in the file -> 255
    table = data.table()
    assert table.num_rows == 9 and table["image_id"][0].as_py() == "img000"


def test_max_images_limits_splits(folder_dataset: Path, tmp_path: Path) -> None:
    summary = prepare.run(data_config(folder_dataset, max_train_images=2), tmp_path / "p")
    assert summary["splits"]["train"] == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda root: (root / "train" / "img001.png").write_bytes(b"not a png"),
            r"train/img001\.png: corrupt or unreadable image",
        ),
        (
            lambda root: (root / "trainannot" / "img002.png").unlink(),
            r"train/img002\.png: missing label file .*trainannot/img002\.png",
        ),
        (
            lambda root: _write_label(root / "valannot" / "img000.png", value=9),
            r"valannot/img000\.png: label ids \[9\] outside 0\.\.3",
        ),
    ],
)
def test_bad_input_names_the_file_and_leaves_nothing(folder_dataset, tmp_path, damage, message):
    damage(folder_dataset)
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match=message):
        prepare.run(data_config(folder_dataset), out)
    assert not out.exists()
    assert list(tmp_path.glob(".prepared*")) == []  # no temporary left behind


def _write_label(path: Path, value: int) -> None:
    import cv2

    cv2.imwrite(str(path), np.full((40, 48), value, np.uint8))


def test_cli_bad_input_is_one_line_and_exit_2(folder_dataset, tmp_path, capsys) -> None:
    (folder_dataset / "train" / "img001.png").write_bytes(b"garbage")
    out = tmp_path / "prepared"
    code = main(
        [
            "step",
            "prepare",
            "configs/default.yaml",
            "--set",
            "data.dataset=camvid",
            "--data-root",
            str(folder_dataset),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("alseg: error: ") and "img001.png: corrupt" in err
    assert not out.exists()
