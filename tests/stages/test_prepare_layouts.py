"""prepare on every layout built on the fly (VOC, Cityscapes, flexible folder), a tiny AL
experiment through the stages on VOC and Cityscapes, and bad input named in one line."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alseg import IGNORE
from alseg.config import load_config
from alseg.data.cityscapes import CITYSCAPES_CLASSES
from alseg.data.errors import DataError
from alseg.data.prepared import PreparedDataset
from alseg.data.voc import VOC_CLASSES
from alseg.stages import labeling, model_stages, prepare, regions
from alseg.stages.common import read_json
from tests.datasets import SIZE, write_cityscapes, write_folder, write_voc

TINY = Path(__file__).parents[2] / "configs" / "tiny.yaml"


def tiny(dataset: str, root: Path, **data):
    """configs/tiny.yaml on ``root`` at the files' size with 8x8 grid regions, on CPU."""
    overrides = {"data.dataset": dataset, "data.root": str(root), "data.image_size": list(SIZE),
                 "data.workers": 2, "region.size": 8, "device": "cpu",
                 **{f"data.{k}": v for k, v in data.items()}}  # fmt: skip
    return load_config(TINY, overrides)


def prepared(cfg, tmp: Path) -> PreparedDataset:
    prepare.run(cfg.data, tmp / "prepared")
    return PreparedDataset.open(tmp / "prepared")


FOLDER_KINDS = [("index8", "rgb"), ("index16", "grey"), ("colour", "jpg"), ("palette", "rgba"),
                ("index8", "rgb16")]  # fmt: skip


def test_folder_label_and_image_kinds_decode_alike(tmp_path: Path) -> None:
    out = {}
    for labels, images in FOLDER_KINDS:
        root = write_folder(tmp_path / f"{labels}-{images}", labels=labels, images=images)
        out[labels, images] = prepared(tiny("folder", root), tmp_path / f"p-{labels}-{images}")
    reference = out["index8", "rgb"]
    assert reference.classes == ["background", "road", "car", "person"]
    assert reference.split_sizes == {"train": 6, "val": 3}
    gt = np.asarray(reference.labels("train"))
    assert (gt[:, :2] == IGNORE).all() and set(np.unique(gt[:, 2:])) == {0, 1, 2, 3}
    rgb = np.asarray(reference.images("train"))
    for (labels, images), data in out.items():
        assert data.classes == reference.classes, labels  # the void class is not a class
        np.testing.assert_array_equal(data.labels("train"), gt, err_msg=labels)
        got = np.asarray(data.images("train")).astype(int)
        if images in ("rgb16", "rgba"):
            np.testing.assert_array_equal(got, rgb)
        elif images == "grey":
            assert (got == rgb[..., :1]).all()  # grey -> the one channel, three times
        else:
            assert np.abs(got.mean((1, 2)) - rgb.mean((1, 2))).max() < 3  # JPEG: mean colours


def test_voc_palette_and_grey_labels_with_named_splits(tmp_path: Path) -> None:
    palette = write_voc(tmp_path / "voc", splits={"train": 4, "seg_val": 2})
    grey = write_voc(tmp_path / "grey", splits={"train": 4, "seg_val": 2}, grey=True)
    splits = {"train": "train", "val": "seg_val"}
    a = prepared(tiny("voc", palette, splits=splits), tmp_path / "a")
    b = prepared(tiny("voc", grey, splits=splits), tmp_path / "b")
    assert a.classes == VOC_CLASSES and a.split_sizes == {"train": 4, "val": 2}
    np.testing.assert_array_equal(a.labels("val"), b.labels("val"))
    gt = np.asarray(a.labels("train"))
    assert (gt[:, :, 8] == IGNORE).all() and set(np.unique(gt)) <= {0, 1, 2, 3, 4, IGNORE}
    assert a.table()["image_id"][0].as_py() == "2007_train_000"


def test_voc_classes_from_labelmap_txt_with_colour_labels(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc")
    for png in (root / "SegmentationClass").glob("*.png"):
        Image.open(png).convert("RGB").save(png)  # CVAT export: colour PNGs
    names = ["background", "aeroplane", "bicycle", "bird", "boat"]
    colors = ["0,0,0", "128,0,0", "0,128,0", "128,128,0", "0,0,128"]
    (root / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\n"
        + "".join(f"{n}:{c}::\n" for n, c in zip(names, colors, strict=True))
    )
    data = prepared(tiny("voc", root), tmp_path)
    assert data.classes == names
    reference = prepared(tiny("voc", write_voc(tmp_path / "ref")), tmp_path / "r")
    np.testing.assert_array_equal(data.labels("train"), reference.labels("train"))


def test_cityscapes_label_ids_and_train_ids_agree(tmp_path: Path) -> None:
    root = write_cityscapes(tmp_path / "cs", train_ids=True)
    ids = prepared(tiny("cityscapes", root), tmp_path / "ids")
    train = prepared(tiny("cityscapes", root, train_ids=True), tmp_path / "train")
    assert ids.classes == CITYSCAPES_CLASSES and ids.split_sizes == {"train": 6, "val": 2}
    gt = np.asarray(ids.labels("train"))
    np.testing.assert_array_equal(gt, train.labels("train"))
    assert (gt[:, :2] == IGNORE).all()  # ego vehicle (labelId 1) -> void
    assert set(np.unique(gt)) == {0, 1, 2, 8, 13, IGNORE}  # road, sidewalk, building, veg., car
    assert ids.table()["image_id"][0].as_py() == "aachen_000000_000019"


@pytest.mark.parametrize("layout", ["voc", "cityscapes"])
def test_tiny_experiment_through_the_stages(layout: str, tmp_path: Path) -> None:
    """prepare -> regions -> init -> oracle -> train -> evaluate -> score -> select -> oracle ->
    train -> evaluate: two AL rounds on a generated dataset of the layout."""
    root = (write_voc if layout == "voc" else write_cityscapes)(tmp_path / "data")
    cfg = tiny(layout, root)
    params = cfg.model_dump(mode="json")
    t = tmp_path
    data = prepared(cfg, t)
    regions.run(cfg.region, t / "prepared", t / "regions", 1)
    labeling.run_init(params, t / "prepared", t / "regions", t / "init")
    labeling.run_oracle(params, 0, t / "init", t / "prepared", t / "regions", t / "init", t / "l0")
    for r in (0, 1):
        model_stages.run_train(params, r, t / "prepared", t / f"l{r}", t / f"m{r}")
        model_stages.run_evaluate(params, r, t / "prepared", t / f"m{r}", t / f"l{r}", t / f"e{r}",
                                  t / "e0" if r else None)  # fmt: skip
        if r == 0:
            model_stages.run_score(params, 0, t / "prepared", t / "regions", t / "m0", t / "s",
                                   t / "l0")  # fmt: skip
            labeling.run_select(params, 1, t / "s", t / "init", t / "l0", t / "regions", t / "q")
            labeling.run_oracle(params, 1, t / "q", t / "prepared", t / "regions", t / "init",
                                t / "l1", t / "l0")  # fmt: skip
    curve = [read_json(t / "e1" / f"round_{r:02d}.json") for r in (0, 1)]
    assert [c["clicks"] for c in curve] == [40, 60]  # tiny budget: 40, then +20
    assert all(0.0 <= c["miou"] <= 1.0 for c in curve)
    assert curve[1]["classes"] == data.classes and len(curve[1]["iou"]) == data.num_classes


def _ambiguous(root: Path) -> None:
    Image.open(root / "images" / "train" / "img000.png").save(root / "images/train/img000.jpg")


def _unknown_colour(root: Path) -> None:
    path = root / "labels" / "val" / "img001.png"
    rgb = np.asarray(Image.open(path)).copy()
    rgb[5, 5] = (9, 9, 9)
    Image.fromarray(rgb).save(path)


def _missing_list_entry(root: Path) -> None:
    with (root / "ImageSets" / "Segmentation" / "train.txt").open("a") as f:
        f.write("2008_000123\n")


def _label_id_40(root: Path) -> None:
    path = root / "gtFine" / "val" / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"
    ids = np.asarray(Image.open(path)).copy()
    ids[0, 0] = 40
    Image.fromarray(ids).save(path)


BAD = {
    "ambiguous stem": ("folder", lambda t: write_folder(t), _ambiguous,
                       r"images/train/img000\.png: ambiguous name, .*images/train/img000\.jpg"),
    "unknown colour": ("folder", lambda t: write_folder(t, labels="colour"), _unknown_colour,
                       r"labels/val/img001\.png: label colours \(9, 9, 9\) are not in the class"),
    "missing split-list entry": ("voc", write_voc, _missing_list_entry,
                                 r"Segmentation/train\.txt: '2008_000123' has no image in "),
    "labelId outside the mapping": (
        "cityscapes", write_cityscapes, _label_id_40,
        r"aachen_000000_000019_gtFine_labelIds\.png: label ids \[40\] outside the Cityscapes"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file(case: str, tmp_path: Path, capsys) -> None:
    from alseg.cli import main

    layout, build, damage, message = BAD[case]
    root = build(tmp_path / "data")
    damage(root)
    with pytest.raises(DataError, match=message):
        prepare.run(tiny(layout, root).data, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()
    config = tmp_path / "c.yaml"
    config.write_text(f"base: {TINY}\ndata: {{dataset: {layout}, root: {root}}}\n")
    code = main(["step", "prepare", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("alseg: error: ")
    assert not (tmp_path / "out").exists()
    assert main(["data", "check", str(config)]) == 2
    problems = [x for x in capsys.readouterr().out.splitlines() if x.startswith("problem: ")]
    assert len(problems) == 1 and problems[0].split(": ", 1)[1] in err
