"""Overlays of the regions queried in a round, painted with the labels the annotator gave.

Shapes: image uint8 (H, W, 3) RGB; region_map int (H, W) (-1 = no region); painted uint8
(H, W) class ids with 255 = nothing painted (alseg.stages.labeling.render_targets of the
round's label rows). No plotting here: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from matplotlib import colormaps

NOTHING = 255
ALPHA = 0.6  # weight of a class colour over the image in painted pixels
DIM = 0.5  # brightness factor of the pixels outside the queried regions


def palette(num_classes: int) -> np.ndarray:
    """uint8 (C, 3) class colours: matplotlib's tab20 (hsv beyond 20 classes)."""
    cmap = colormaps["tab20"] if num_classes <= 20 else colormaps["hsv"].resampled(num_classes)
    rgba = np.array([cmap(c % cmap.N) for c in range(num_classes)])
    return (255 * rgba[:, :3]).round().astype(np.uint8)


def busiest_images(labels: pa.Table, round_index: int, n: int) -> list[int]:
    """The ``n`` images with the most regions labelled in ``round_index`` (ties: lower index)."""
    in_round = labels["round"].to_numpy() == round_index
    counts = np.bincount(labels["image_index"].to_numpy()[in_round])
    order = np.lexsort((np.arange(len(counts)), -counts))
    return [int(i) for i in order[:n] if counts[i] > 0]


def region_edges(region_map: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels of ``inside`` with a 4-neighbour of another region id."""
    differs = np.zeros(region_map.shape, bool)
    horizontal = region_map[:, 1:] != region_map[:, :-1]
    vertical = region_map[1:] != region_map[:-1]
    differs[:, 1:] |= horizontal
    differs[:, :-1] |= horizontal
    differs[1:] |= vertical
    differs[:-1] |= vertical
    return inside & differs


def grow(painted: np.ndarray, radius: int) -> np.ndarray:
    """``painted`` with each painted pixel widened to a (2 radius + 1)^2 square (point labels
    would be invisible otherwise; overlaps keep the larger class id)."""
    if radius <= 0:
        return painted
    shifted = np.where(painted == NOTHING, -1, painted.astype(np.int16))
    padded = np.pad(shifted, radius, constant_values=-1)
    height, width = painted.shape
    grown = shifted.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            grown = np.maximum(grown, padded[dy : dy + height, dx : dx + width])
    return np.where(grown < 0, NOTHING, grown).astype(np.uint8)


def overlay(
    image: np.ndarray,
    region_map: np.ndarray,
    region_ids: np.ndarray,
    painted: np.ndarray,
    colours: np.ndarray,
    point_radius: int = 0,
) -> np.ndarray:
    """uint8 (H, W, 3): pixels outside the queried regions darkened to ``DIM`` x, painted
    pixels blended as (1 - ALPHA) x image + ALPHA x colour of their class, queried regions
    outlined in white (point labels: squares of ``point_radius``, no outline)."""
    queried = np.isin(region_map, region_ids)
    painted = grow(painted, point_radius)
    out = image.astype(np.float32)
    out[~queried & (painted == NOTHING)] *= DIM
    mask = painted != NOTHING
    out[mask] = (1 - ALPHA) * out[mask] + ALPHA * colours[painted[mask]].astype(np.float32)
    if point_radius == 0:
        out[region_edges(region_map, queried)] = 255.0
    return out.round().astype(np.uint8)


def region_centres(region_map: np.ndarray, region_ids: np.ndarray) -> np.ndarray:
    """float (n, 2) (y, x) mean pixel position of each region id (for text labels)."""
    ys, xs = np.nonzero(np.isin(region_map, region_ids))
    index = np.searchsorted(np.sort(region_ids), region_map[ys, xs])
    order = np.argsort(region_ids)
    counts = np.bincount(index, minlength=len(region_ids))
    centres = np.stack([np.bincount(index, ys, len(region_ids)),
                        np.bincount(index, xs, len(region_ids))], 1)  # fmt: skip
    result = np.empty_like(centres)
    result[order] = centres / np.maximum(counts, 1)[:, None]
    return result
