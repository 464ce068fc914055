"""Decoding image and label files of any common kind.

Images: 8/16-bit, grey, RGB, RGBA or palette, EXIF orientation applied -> uint8 RGB (H, W, 3)
(16-bit values scaled by 255/65535, alpha dropped). Labels: palette-indexed (the index is the raw
id), 8/16-bit grey ids, or RGB colours looked up in the class colours -> uint8 (H, W) class ids
with void = alseg.IGNORE (255), through ``ClassInfo.lut``.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from alseg.data.classes import RAW_IDS, ClassInfo
from alseg.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
LABEL_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")


def decode_image(data: bytes, uri: str) -> np.ndarray:
    """Encoded image -> uint8 RGB (H, W, 3); DataError naming ``uri`` when unreadable."""
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH  # grey/RGBA/palette -> 3 channels, EXIF applied
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise DataError(f"{uri}: corrupt or unreadable image")
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype == np.float32:
        image = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{uri}: unsupported image sample type {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _open_label(data: bytes, uri: str) -> Image.Image:
    try:
        label = Image.open(io.BytesIO(data))
        label.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{uri}: corrupt or unreadable label image ({err})") from None
    return label


def colors_to_ids(rgb: np.ndarray, colors: np.ndarray, uri: str) -> np.ndarray:
    """uint8 (H, W, 3) colours -> int64 (H, W) raw ids (row of ``colors`` (K, 3)); DataError
    naming the file and the first unknown colours."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette = (
        (colors[:, 0].astype(np.int64) << 16) | (colors[:, 1].astype(np.int64) << 8) | colors[:, 2]
    )
    order = np.argsort(palette)
    pos = np.clip(np.searchsorted(palette[order], codes), 0, len(palette) - 1)
    known = palette[order][pos] == codes
    if not known.all():
        unknown = np.unique(codes[~known])[:5].tolist()
        text = ", ".join(str(((c >> 16) & 255, (c >> 8) & 255, c & 255)) for c in unknown)
        raise DataError(f"{uri}: label colours {text} are not in the class colours")
    return order[pos]


def label_ids(data: bytes, uri: str, colors: np.ndarray | None) -> np.ndarray:
    """Encoded label -> raw ids (H, W): palette indices or grey values as stored; RGB(A) colours
    (or a palette image when ``colors`` is given) through ``colors_to_ids``."""
    label = _open_label(data, uri)
    mode = label.mode
    if mode == "P" and colors is None:
        return np.asarray(label)
    if mode in ("P", "RGB", "RGBA") and colors is not None:
        return colors_to_ids(np.asarray(label.convert("RGB")), colors, uri)
    if mode in ("L", "1", "LA") or mode.startswith("I"):
        return np.asarray(label.getchannel(0) if mode == "LA" else label).astype(np.int64)
    if mode in ("RGB", "RGBA"):
        raise DataError(
            f"{uri}: colour label file but no class colours (give 'colors' in classes.json or "
            "data.colors, or store class ids as a grey or palette PNG)"
        )
    raise DataError(f"{uri}: unsupported label image mode {mode}")


def decode_label(data: bytes, uri: str, info: ClassInfo) -> np.ndarray:
    """Encoded label -> uint8 (H, W) class ids, void = 255; DataError naming the file when it
    holds ids the class list does not allow."""
    raw = label_ids(data, uri, info.colors)
    if raw.size and (raw.min() < 0 or raw.max() >= RAW_IDS):
        raise DataError(f"{uri}: label ids outside 0..{RAW_IDS - 1}")
    mapped = info.lut[raw]
    if (mapped < 0).any():
        bad = np.unique(raw[mapped < 0])
        shown = bad[:8].tolist()
        raise DataError(f"{uri}: label ids {shown}{' ...' if bad.size > 8 else ''} "
                        f"outside {info.expected}")  # fmt: skip
    return mapped.astype(np.uint8)


def resize_pair(
    image: np.ndarray, label: np.ndarray, size: tuple[int, int], uri: str
) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (area when shrinking, else linear) and label (nearest) to ``size = (H, W)``."""
    if image.shape[:2] != label.shape:
        raise DataError(f"{uri}: image {image.shape[:2]} and label {label.shape} sizes differ")
    height, width = size
    if image.shape[:2] == (height, width):
        return image, label
    shrink = height < image.shape[0]
    image = cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)
    return image, label
