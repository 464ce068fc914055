"""Decoding images and labels of every kind, class specs and label-id mappings (hand cases)."""

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from alseg import IGNORE
from alseg.data.cityscapes import label_id_mapping
from alseg.data.classes import ClassInfo, ClassSpec, parse_classes_json, parse_labelmap
from alseg.data.errors import DataError
from alseg.data.images import decode_image, decode_label
from alseg.data.readers import layout_names
from alseg.data.voc import voc_colormap
from tests.datasets import exif_rotated_jpeg

RGB = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)  # (1, 2, 3)


def png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def pil_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_every_layout_is_registered() -> None:
    assert layout_names() == ["camvid", "cityscapes", "folder", "synthetic", "voc"]


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (png(RGB[..., ::-1]), RGB),  # 8-bit RGB (cv2 writes BGR)
        (png(RGB[..., ::-1].astype(np.uint16) * 257), RGB),  # 16-bit: v * 257 -> v
        (
            png(np.array([[0, 65535, 32896]], np.uint16)),
            np.array([[[0] * 3, [255] * 3, [128] * 3]]),
        ),
        (png(np.array([[7, 250]], np.uint8)), np.array([[[7] * 3, [250] * 3]])),  # grey -> 3 ch
        (pil_png(Image.fromarray(np.dstack([RGB, np.full((1, 2, 1), 9, np.uint8)]), "RGBA")), RGB),
    ],
    ids=["rgb8", "rgb16", "grey16", "grey8", "rgba"],
)
def test_images_of_any_kind_become_uint8_rgb(encoded: bytes, expected: np.ndarray) -> None:
    image = decode_image(encoded, "x.png")
    assert image.dtype == np.uint8 and image.shape == (*expected.shape[:2], 3)
    np.testing.assert_array_equal(image, expected)


def test_exif_orientation_is_applied() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :10] = 255  # white band on the left
    rotated = decode_image(exif_rotated_jpeg(image, orientation=6), "photo.jpg")
    assert rotated.shape == (40, 20, 3)  # 90 degrees clockwise: the left band is now on top
    assert rotated[:10].mean() > 240 and rotated[15:].mean() < 15


def test_corrupt_image_names_the_file() -> None:
    with pytest.raises(DataError, match=r"^a/b\.jpg: corrupt or unreadable image$"):
        decode_image(b"not an image", "a/b.jpg")


SPEC = ClassInfo.from_spec(ClassSpec(classes=["a", "b", "c"], ignore_index=255))


def test_index_labels_8_16_bit_and_palette() -> None:
    ids = np.array([[0, 1, 2, 255]], np.uint8)
    np.testing.assert_array_equal(decode_label(png(ids), "l.png", SPEC), ids)
    info16 = ClassInfo.from_spec(ClassSpec(classes=["a", "b", "c"], ignore_index=1000))
    ids16 = np.array([[0, 2, 1000]], np.uint16)
    np.testing.assert_array_equal(decode_label(png(ids16), "l.png", info16), [[0, 2, IGNORE]])
    palette = Image.fromarray(ids, "P")
    palette.putpalette(sum(voc_colormap(256), ()))
    np.testing.assert_array_equal(decode_label(pil_png(palette), "l.png", SPEC), ids)


def test_id_outside_the_classes_names_the_file() -> None:
    ids = np.array([[0, 3, 7]], np.uint8)
    with pytest.raises(
        DataError, match=r"^l\.png: label ids \[3, 7\] outside 0\.\.2 \(void id 255\)$"
    ):
        decode_label(png(ids), "l.png", SPEC)


def test_void_class_inside_the_range_is_removed_and_later_ids_renumbered() -> None:
    spec = ClassSpec(classes=["bg", "void", "road"], ignore_index=1, void_classes=["void"])
    info = ClassInfo.from_spec(spec)
    assert info.classes == ["bg", "road"]
    ids = np.array([[0, 1, 2]], np.uint8)
    np.testing.assert_array_equal(decode_label(png(ids), "l.png", info), [[0, IGNORE, 1]])


def test_colour_labels_map_through_the_class_colours() -> None:
    spec = ClassSpec(classes=["bg", "road", "edge"], colors=[(0, 0, 0), (128, 64, 128),
                     (255, 255, 255)], void_classes=["edge"])  # fmt: skip
    info = ClassInfo.from_spec(spec)
    rgb = np.array([[[128, 64, 128], [0, 0, 0], [255, 255, 255]]], np.uint8)
    np.testing.assert_array_equal(decode_label(pil_png(Image.fromarray(rgb)), "c.png", info),
                                  [[1, 0, IGNORE]])  # fmt: skip
    rgb[0, 1] = (1, 2, 3)
    with pytest.raises(DataError, match=r"^c\.png: label colours \(1, 2, 3\) are not in the class"):
        decode_label(pil_png(Image.fromarray(rgb)), "c.png", info)
    with pytest.raises(DataError, match=r"^c\.png: colour label file but no class colours"):
        decode_label(pil_png(Image.fromarray(rgb)), "c.png", SPEC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"classes": "abcd"}', r"field 'classes': Input should be a valid list"),
        ('{"classes": ["a", "b"], "ignore_index": 1}',
         r"ignore_index 1 is class 'b' \(inside 0\.\.1\); list 'b' in void_classes"),
        ('{"classes": ["a", "a"]}', r"duplicate names \['a'\]"),
        ('{"classes": ["a", "b"], "colors": [[0, 0, 0]]}', r"1 colours for 2 classes"),
        ('{"classes": ["a"], "void_classes": ["z"]}', r"\['z'\] not in classes"),
        ('{"classes": ["a"], "colour": [[0, 0, 0]]}', r"field 'colour': unknown key"),
        ('{"classes": ["a"]', r"not valid JSON"),
    ],
)  # fmt: skip
def test_bad_classes_json_is_one_line_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(DataError, match=r"^root/classes\.json: .*" + message) as err:
        parse_classes_json(text, "root/classes.json")
    assert "\n" not in str(err.value)


def test_labelmap_txt() -> None:
    text = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:64,0,0::\n"
    assert parse_labelmap(text, "lm.txt") == (["background", "cat"], [(0, 0, 0), (64, 0, 0)])
    with pytest.raises(DataError, match=r"^lm\.txt: line 2: expected 'name:r,g,b::'"):
        parse_labelmap("a:0,0,0::\nb:0,0::\n", "lm.txt")


def test_cityscapes_label_ids_map_to_19_train_ids() -> None:
    mapping = label_id_mapping()
    assert len(mapping) == 34
    assert (mapping[7], mapping[8], mapping[26], mapping[33]) == (0, 1, 13, 18)  # road..bicycle
    assert mapping[0] == mapping[1] == mapping[9] == mapping[29] == IGNORE  # void, parking...
    assert sorted(v for v in mapping.values() if v != IGNORE) == list(range(19))
    info = ClassInfo.from_mapping(["c"] * 19, mapping, "the Cityscapes labelId mapping 0..33")
    decoded = decode_label(png(np.array([[7, 33, 4]], np.uint8)), "g.png", info)
    np.testing.assert_array_equal(decoded, [[0, 18, IGNORE]])
    with pytest.raises(DataError, match=r"g\.png: label ids \[40\] outside the Cityscapes"):
        decode_label(png(np.array([[7, 40]], np.uint8)), "g.png", info)


def test_voc_colormap_matches_the_voc_palette() -> None:
    colors = voc_colormap(256)
    assert colors[:4] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert colors[15] == (192, 128, 128) and colors[255] == (224, 224, 192)  # person, void


def test_config_class_fields_are_validated() -> None:
    from alseg.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"field 'data\.classes': Input should be a valid list"):
        parse_config({"data": {"dataset": "folder", "root": "/d", "classes": "abcd"}})
    with pytest.raises(ConfigError, match=r"ignore_index 0 is class 'a'"):
        parse_config({"data": {"dataset": "folder", "root": "/d", "classes": ["a"],
                               "ignore_index": 0}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"unknown dataset layout 'coco' \(registered: camvid, "):
        parse_config({"data": {"dataset": "coco", "root": "/d"}})
    with pytest.raises(ConfigError, match=r"train_ids is a cityscapes option"):
        parse_config({"data": {"dataset": "voc", "root": "/d", "train_ids": True}})
    cfg = parse_config({"data": {"dataset": "voc", "root": "/d", "splits": {"train": "trainaug",
                                 "val": "val"}}})  # fmt: skip
    assert cfg.data.splits == {"train": "trainaug", "val": "val"}
    assert "void_classes" not in json.loads(cfg.data.model_dump_json())  # default: left out


def test_layout_options_at_their_defaults_stay_out_of_the_prepare_cache_key() -> None:
    from alseg.config import parse_config, stage_params

    # the data fields before the layout options existed
    before = ["classes", "dataset", "ignore_index", "image_size", "max_train_images",
              "max_val_images", "root", "synthetic", "workers"]  # fmt: skip
    data = json.loads(stage_params(parse_config({"data": {"dataset": "camvid", "root": "/c"}}),
                                   "prepare"))["data"]  # fmt: skip
    assert sorted(data) == before
    cfg = parse_config({"data": {"dataset": "cityscapes", "root": "/c", "train_ids": True}})
    assert json.loads(stage_params(cfg, "prepare"))["data"]["train_ids"] is True
