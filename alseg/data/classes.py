"""Class lists and label-id mappings: raw ids (or colours) in label files -> training class ids.

A label file holds *raw* ids: palette indices, 8/16-bit grey values, or RGB colours looked up in
a colour list (colour k = raw id k). ``ClassInfo.lut`` maps every raw id in 0..65535 to a class
id in 0..C-1, to void (alseg.IGNORE = 255) or to -1 (not allowed: the file is rejected).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from alseg import IGNORE
from alseg.data.errors import DataError

RAW_IDS = 65536  # 16-bit label files
ClassName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Channel = Annotated[int, Field(ge=0, le=255)]
Color = tuple[Channel, Channel, Channel]


def check_class_spec(
    classes: Sequence[str],
    ignore_index: int | None,
    void_classes: Sequence[str],
    colors: Sequence[Color] | None,
) -> None:
    """ValueError naming the field when the class list, void id or colours do not fit together.

    The ignore index may fall inside ``0..len(classes)-1`` only when that class is declared void.
    """
    if len(set(classes)) != len(classes):
        dups = sorted({c for c in classes if list(classes).count(c) > 1})
        raise ValueError(f"classes: duplicate names {dups}")
    unknown = [v for v in void_classes if v not in classes]
    if unknown:
        raise ValueError(f"void_classes: {unknown} not in classes")
    if len(classes) - len(set(void_classes)) < 1:
        raise ValueError("classes: every class is void")
    if len(classes) - len(set(void_classes)) > 255:
        raise ValueError("classes: at most 255 (non-void) classes")
    if ignore_index is not None and 0 <= ignore_index < len(classes):
        name = classes[ignore_index]
        if name not in void_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is class '{name}' (inside 0..{len(classes) - 1}); "
                f"list '{name}' in void_classes or use an id >= {len(classes)}"
            )
    if colors is not None:
        if len(colors) != len(classes):
            raise ValueError(f"colors: {len(colors)} colours for {len(classes)} classes")
        if len(set(map(tuple, colors))) != len(colors):
            raise ValueError("colors: two classes share a colour")


class ClassSpec(BaseModel):
    """A class list as written in ``classes.json`` (or the ``data`` section of a config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: list[ClassName] = Field(min_length=1)
    ignore_index: Annotated[int, Field(ge=0, lt=RAW_IDS)] | None = None
    void_classes: list[str] = []
    colors: list[Color] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ClassSpec:
        check_class_spec(self.classes, self.ignore_index, self.void_classes, self.colors)
        return self


@dataclass(frozen=True)
class ClassInfo:
    """Training classes and how raw label values map to them.

    ``lut``: int16 (65536,), raw id -> class id, 255 = void, -1 = not allowed.
    ``colors``: uint8 (K, 3) RGB of raw ids 0..K-1 for colour label files, or None.
    ``expected``: the allowed raw ids in words, for error messages.
    """

    classes: list[str]
    lut: np.ndarray
    colors: np.ndarray | None
    expected: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def from_spec(cls, spec: ClassSpec) -> ClassInfo:
        """Raw id k = ``spec.classes[k]``; void classes and ``ignore_index`` -> 255; the other
        classes keep their order (ids renumbered past removed void classes)."""
        lut = np.full(RAW_IDS, -1, np.int16)
        names = [c for c in spec.classes if c not in spec.void_classes]
        for raw, name in enumerate(spec.classes):
            lut[raw] = IGNORE if name in spec.void_classes else names.index(name)
        expected = f"0..{len(spec.classes) - 1}"
        if spec.ignore_index is not None:
            lut[spec.ignore_index] = IGNORE
            if spec.ignore_index >= len(spec.classes):
                expected += f" (void id {spec.ignore_index})"
        colors = None if spec.colors is None else np.asarray(spec.colors, np.uint8).reshape(-1, 3)
        return cls(names, lut, colors, expected)

    @classmethod
    def from_mapping(
        cls, classes: Sequence[str], mapping: Mapping[int, int], expected: str
    ) -> ClassInfo:
        """Raw id -> class id (or 255) for the raw ids in ``mapping``; every other id is refused."""
        lut = np.full(RAW_IDS, -1, np.int16)
        for raw, target in mapping.items():
            lut[raw] = target
        return cls(list(classes), lut, None, expected)


def spec_error(source: str, err: ValidationError) -> DataError:
    """One-line DataError naming ``source`` and the first bad field of a class list."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    return DataError(f"{source}: field '{field}': {problem}")


def parse_classes_json(text: str | bytes, source: str) -> ClassSpec:
    """``{"classes": [...], "ignore_index": K, "void_classes": [...], "colors": [[r, g, b]]}``."""
    try:
        return ClassSpec.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise DataError(f"{source}: not valid JSON: {err}") from None
    except ValidationError as err:
        raise spec_error(source, err) from None


def parse_labelmap(text: str, source: str) -> tuple[list[str], list[Color]]:
    """A CVAT / VOC ``labelmap.txt`` (``name:r,g,b:parts:actions`` per line, ``#`` comments)
    -> (class names, colours) in file order."""
    names, colors = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        rgb = rest.split(":")[0].split(",")
        try:
            color = tuple(int(v) for v in rgb)
        except ValueError:
            color = ()
        if not name.strip() or len(color) != 3 or not all(0 <= v <= 255 for v in color):
            raise DataError(f"{source}: line {number}: expected 'name:r,g,b::', got {line!r}")
        names.append(name.strip())
        colors.append(color)
    if not names:
        raise DataError(f"{source}: no classes listed")
    return names, colors
