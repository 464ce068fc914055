"""Pascal VOC layout (also CVAT's "Segmentation mask" export)::

    ROOT/JPEGImages/NAME.jpg                 images (any extension)
    ROOT/SegmentationClass/NAME.png          palette-indexed, grey or colour labels, 255 = void
    ROOT/ImageSets/Segmentation/SPLIT.txt    one NAME per line
    ROOT/labelmap.txt                        optional: name:r,g,b:: per class (CVAT / VOC export)

Classes: ``data.classes``, else ``labelmap.txt``, else ``classes.json``, else the 21 VOC classes
with the VOC colour map. The boundary colour (224, 224, 192) is void.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alseg import IGNORE, storage
from alseg.data.classes import ClassInfo, ClassSpec, parse_labelmap
from alseg.data.errors import DataError
from alseg.data.images import IMAGE_SUFFIXES
from alseg.data.readers import (
    Reader,
    Sample,
    config_spec,
    flag,
    register,
    root_spec,
    stem_index,
)

if TYPE_CHECKING:
    from alseg.config import DataConfig

VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip
VOID_COLOR = (224, 224, 192)
VOID_NAME = "void"


def voc_colormap(n: int) -> list[tuple[int, int, int]]:
    """The VOC palette: class k's colour from the bits of k (k=1 -> (128, 0, 0))."""
    colors = []
    for k in range(n):
        r = g = b = 0
        c = k
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return colors


def with_void_color(classes: list[str], colors: list) -> ClassSpec:
    """A colour class list with VOC's boundary colour added as a void class; raw id 255 void."""
    if VOID_COLOR in [tuple(c) for c in colors]:
        void = [classes[[tuple(c) for c in colors].index(VOID_COLOR)]]
    else:
        classes, colors, void = [*classes, VOID_NAME], [*colors, VOID_COLOR], [VOID_NAME]
    return ClassSpec(classes=classes, colors=colors, void_classes=void, ignore_index=IGNORE)


@register
class VocReader(Reader):
    name = "voc"
    default_splits = {"train": "train", "val": "val", "test": "test"}

    def class_info(self, data: DataConfig) -> ClassInfo:
        spec = config_spec(data)
        labelmap = storage.join(data.root, "labelmap.txt")
        if spec is None and storage.exists(labelmap):
            text = storage.read_bytes(labelmap).decode("utf-8", errors="replace")
            spec = with_void_color(*parse_labelmap(text, labelmap))
        if spec is None:
            default = with_void_color(VOC_CLASSES, voc_colormap(len(VOC_CLASSES)))
            spec = root_spec(data.root, default)
        return ClassInfo.from_spec(spec)

    def _list_file(self, data: DataConfig, name: str) -> str:
        return storage.join(data.root, "ImageSets", "Segmentation", f"{name}.txt")

    def has_split(self, data: DataConfig, name: str) -> bool:
        return storage.exists(self._list_file(data, name))

    def samples(
        self, data: DataConfig, split: str, name: str, problems: list[str] | None = None
    ) -> list[Sample]:
        list_file = self._list_file(data, name)
        if not storage.exists(list_file):
            raise DataError(f"{list_file}: split list not found (data.splits.{split})")
        lines = storage.read_bytes(list_file).decode("utf-8", errors="replace").splitlines()
        names = [line.split()[0] for line in lines if line.strip()]
        if not names:
            raise DataError(f"{list_file}: empty split list")
        images = stem_index(storage.join(data.root, "JPEGImages"), IMAGE_SUFFIXES)
        labels_dir = storage.join(data.root, "SegmentationClass")
        labels = stem_index(labels_dir, (".png",))
        samples = []
        for stem in names:
            if stem not in images:
                flag(problems, f"{list_file}: '{stem}' has no image in "
                               f"{storage.join(data.root, 'JPEGImages')}")  # fmt: skip
            elif stem not in labels:
                flag(problems, f"{list_file}: '{stem}': missing label file "
                               f"{storage.join(labels_dir, stem)}.png")  # fmt: skip
            else:
                samples.append(Sample(stem, split, images[stem], labels[stem]))
        return samples
