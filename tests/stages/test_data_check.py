"""alseg data check: one pass over every file, counts, sizes, class pixel shares (by hand)."""

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from alseg import storage
from alseg.cli import main

TINY = Path(__file__).parents[2] / "configs" / "tiny.yaml"


def write_pair(root: Path, split: str, name: str, label: np.ndarray) -> None:
    for kind in ("images", "labels"):
        (root / kind / split).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), np.zeros((*label.shape, 3)))
    cv2.imwrite(str(root / "labels" / split / f"{name}.png"), label.astype(np.uint8))


def test_check_prints_counts_sizes_and_class_shares(tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "data"
    a = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 255, 255]])  # 4x4
    write_pair(root, "train", "a", a)
    write_pair(root, "train", "b", np.ones((2, 4)))  # 2x4, all road
    write_pair(root, "val", "c", np.zeros((2, 3)))
    spec = {"classes": ["background", "road", "car", "person"], "ignore_index": 255}
    (root / "classes.json").write_text(json.dumps(spec))
    config = tmp_path / "c.yaml"
    config.write_text(f"base: {TINY}\ndata: {{dataset: folder, root: {root}}}\n")
    reads = Counter()
    read_bytes = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda uri: reads.update([uri]) or read_bytes(uri))

    assert main(["data", "check", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 24 train pixels: background 8, road 4 + 8, car 2, void 2
    assert lines[1:] == [
        "split train (train): 2 images",
        "image sizes train: 4x4 (x1), 2x4 (x1)",
        "class pixels train: road 50.0%, background 33.3%, car 8.3%, person 0.0%, void 8.3%",
        "split val (val): 1 images",
        "image sizes val: 2x3 (x1)",
        "class pixels val: background 100.0%, road 0.0%, car 0.0%, person 0.0%, void 0.0%",
        "classes absent from train: person",
        "no problems",
    ]
    assert lines[0].startswith("dataset folder at ") and "4 classes" in lines[0]
    files = {str(p) for p in root.rglob("*") if p.is_file()}
    assert set(reads) == files and set(reads.values()) == {1}  # every file read exactly once


def test_check_lists_every_missing_pair_and_scans_the_rest(tmp_path: Path, capsys) -> None:
    from tests.datasets import write_voc

    root = write_voc(tmp_path / "voc")  # 6 train + 3 val
    with (root / "ImageSets" / "Segmentation" / "train.txt").open("a") as f:
        f.write("2008_000001\n2008_000002\n")
    (root / "SegmentationClass" / "2007_val_001.png").unlink()
    config = tmp_path / "c.yaml"
    config.write_text(f"base: {TINY}\ndata: {{dataset: voc, root: {root}}}\n")

    assert main(["data", "check", str(config)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert "split train (train): 6 images" in lines and "split val (val): 2 images" in lines
    problems = [line for line in lines if line.startswith("problem: ")]
    assert len(problems) == 3 and lines[-1] == "3 problem(s)"
    assert "train.txt: '2008_000001' has no image in" in problems[0]
    assert "train.txt: '2008_000002' has no image in" in problems[1]
    assert "val.txt: '2007_val_001': missing label file" in problems[2]
