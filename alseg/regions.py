"""Region maps (superpixels or grid cells) and their per-region table (numpy + cv2).

Region maps are ``(H, W) int32`` with contiguous ids ``0 .. R-1`` (``-1`` = no region, kept as
is by ``compact_ids``). Methods (ALGORITHMS.md 1.1, DESIGN.md 7):

- ``seeds``: OpenCV SEEDS as in Cai et al. / MulActSeg. At 360x480, any N in 192..705 gives the
  11x15 grid of 32x32 blocks (165 regions).
- ``slic``: OpenCV SLIC (ablation only).
- ``grid``: square cells, the S4AL setting.

To keep regions fixed in full-resolution pixels at a reduced training resolution, compute them on
the full-resolution image and pass the reduced size as ``out_hw`` (nearest downsampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from alseg import checks
from alseg.cpus import available_cpus
from alseg.progress import track_batches

__all__ = [
    "REGION_METHODS",
    "seeds_superpixels",
    "slic_superpixels",
    "grid_regions",
    "compact_ids",
    "resize_region_map",
    "region_map_for_image",
    "compute_region_maps",
    "region_table",
]

REGION_METHODS: tuple[str, ...] = ("seeds", "slic", "grid")
_PARAM_NAMES: dict[str, frozenset[str]] = {
    "seeds": frozenset(
        {
            "num_superpixels",
            "num_levels",
            "prior",
            "histogram_bins",
            "double_step",
            "iterations",
            "equalize",
        }
    ),
    "slic": frozenset({"region_size", "ruler", "iterations"}),
    "grid": frozenset({"cell"}),
}
_REQUIRED_PARAMS: dict[str, frozenset[str]] = {
    "seeds": frozenset({"num_superpixels"}),
    "slic": frozenset(),
    "grid": frozenset({"cell"}),
}


# ---------------------------------------------------------------------------------------------
# guards


def _ensure_rgb_image(image: np.ndarray) -> None:
    """Raise ValueError unless image is uint8 (H, W, 3)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        raise ValueError(f"expected a uint8 (H, W, 3) RGB image, got {got}; convert it first")
    if image.shape[2] != 3:
        raise ValueError(
            f"expected 3 channels (RGB), got shape {image.shape}; drop alpha / stack grey channels"
        )


def _ensure_positive(name: str, value: int) -> None:
    """Raise ValueError unless value >= 1."""
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}; pass a positive integer")


def _ensure_method_params(method: str, params: dict[str, Any]) -> None:
    """Raise ValueError for an unknown method, unknown params or missing required params."""
    if method not in _PARAM_NAMES:
        raise ValueError(f"method must be one of {REGION_METHODS}, got {method!r}")
    unknown = set(params) - _PARAM_NAMES[method]
    if unknown:
        raise ValueError(
            f"unknown {method} params {sorted(unknown)}; allowed: {sorted(_PARAM_NAMES[method])}"
        )
    missing = _REQUIRED_PARAMS[method] - set(params)
    if missing:
        raise ValueError(f"{method} needs params {sorted(missing)}, got {sorted(params)}")


# ---------------------------------------------------------------------------------------------
# region maps


def _equalize_hist_global(image: np.ndarray) -> np.ndarray:
    """``skimage.exposure.equalize_hist`` for uint8 input, as float32 in (0, 1].

    One histogram over all channels together (skimage flattens the array):
    out[v] = #{values <= v} / n_values.
    """
    cdf = np.cumsum(np.bincount(image.ravel(), minlength=256)) / float(image.size)
    return cdf.astype(np.float32)[image]


def seeds_superpixels(
    image: np.ndarray,
    num_superpixels: int,
    num_levels: int = 5,
    prior: int = 3,
    histogram_bins: int = 10,
    double_step: bool = True,
    iterations: int = 10,
    equalize: bool = True,
) -> np.ndarray:
    """SEEDS superpixels following ALGORITHMS.md 1.1 -> (H, W) int32, ids contiguous 0..R-1.

    image uint8 (H, W, 3) RGB -> histogram equalisation (skimage ``equalize_hist`` semantics: one
    histogram over all three channels, float in [0, 1]; ``equalize=False`` just scales by 1/255)
    -> float32 RGB2HSV -> ``createSuperpixelSEEDS(W, H, 3, N, num_levels, prior,
    histogram_bins, double_step)`` -> ``iterate(img, iterations)`` -> ``getLabels()`` compacted.
    SEEDS quantises its grid: 360x480 with N in 192..705 gives 165 blocks of 32x32.
    """
    _ensure_rgb_image(image)
    _ensure_positive("num_superpixels", num_superpixels)
    height, width = image.shape[:2]
    if equalize:
        rgb = _equalize_hist_global(image)
    else:
        rgb = image.astype(np.float32) / np.float32(255.0)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    seeds = cv2.ximgproc.createSuperpixelSEEDS(
        width, height, 3, int(num_superpixels), int(num_levels), int(prior), int(histogram_bins),
        bool(double_step),
    )  # fmt: skip
    seeds.iterate(hsv, int(iterations))
    labels, _ = compact_ids(seeds.getLabels())
    return labels


def slic_superpixels(
    image: np.ndarray, region_size: int = 32, ruler: float = 10.0, iterations: int = 10
) -> np.ndarray:
    """SLIC superpixels (ablation) -> (H, W) int32, ids contiguous 0..R-1.

    Uses plain ``cv2.ximgproc.SLIC`` (not SLICO, so ``ruler``, the compactness, is honoured) on
    the CIELab image without blur, like ``skimage.segmentation.slic(sigma=0)`` which converts to
    Lab; then ``enforceLabelConnectivity(25)`` (skimage enforces connectivity too) and compaction.
    About (H / region_size) * (W / region_size) regions.
    """
    _ensure_rgb_image(image)
    _ensure_positive("region_size", region_size)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2Lab)
    slic = cv2.ximgproc.createSuperpixelSLIC(
        lab, algorithm=cv2.ximgproc.SLIC, region_size=int(region_size), ruler=float(ruler)
    )
    slic.iterate(int(iterations))
    slic.enforceLabelConnectivity(25)
    labels, _ = compact_ids(slic.getLabels())
    return labels


def grid_regions(height: int, width: int, cell: int) -> np.ndarray:
    """Square grid cells -> (H, W) int32: id = (y // cell) * ceil(W / cell) + x // cell.

    Row-major; cells on the bottom and right edges are smaller when cell does not divide H or W.
    """
    _ensure_positive("height", height)
    _ensure_positive("width", width)
    _ensure_positive("cell", cell)
    n_cols = -(-width // cell)
    rows = (np.arange(height, dtype=np.int32) // cell)[:, None]
    cols = (np.arange(width, dtype=np.int32) // cell)[None, :]
    return (rows * n_cols + cols).astype(np.int32)


def compact_ids(region_map: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel to 0..R-1 in the order of the sorted old ids -> (int32 map, R).

    Negative ids (no region) all become -1 and are not counted in R.
    """
    checks.region_map(region_map)
    valid = region_map >= 0
    unique_ids, inverse = np.unique(region_map[valid], return_inverse=True)
    out = np.full(region_map.shape, -1, dtype=np.int32)
    out[valid] = inverse.astype(np.int32)
    return out, int(unique_ids.size)


def resize_region_map(region_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize (cv2.INTER_NEAREST) to (height, width), then compact -> int32.

    Regions that vanish when downsampling are dropped, so ids stay contiguous.
    """
    checks.region_map(region_map)
    _ensure_positive("height", height)
    _ensure_positive("width", width)
    resized = cv2.resize(
        region_map.astype(np.int32), (int(width), int(height)), interpolation=cv2.INTER_NEAREST
    )
    out, _ = compact_ids(resized)
    return out


def region_map_for_image(
    image: np.ndarray, method: str, params: dict[str, Any], out_hw: tuple[int, int]
) -> np.ndarray:
    """Region map computed on ``image`` (uint8 RGB), resized with nearest to out_hw, compacted.

    method: ``seeds`` (params: num_superpixels [+ seeds_superpixels keywords]), ``slic``
    (region_size, ruler, iterations) or ``grid`` (cell, in the given image's pixels).
    Returns (H_out, W_out) int32 with ids 0..R-1.
    """
    _ensure_rgb_image(image)
    _ensure_method_params(method, params)
    if method == "seeds":
        full = seeds_superpixels(image, **params)
    elif method == "slic":
        full = slic_superpixels(image, **params)
    else:
        full = grid_regions(image.shape[0], image.shape[1], int(params["cell"]))
    if full.shape == tuple(out_hw):
        return compact_ids(full)[0]
    return resize_region_map(full, int(out_hw[0]), int(out_hw[1]))


def _read_rgb(path: str) -> np.ndarray:
    """cv2.imread + BGR->RGB; ValueError naming the file when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image file {path!r}; check that it exists and is an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _region_maps_chunk(
    items: Sequence[np.ndarray | str],
    method: str,
    params: dict[str, Any],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Region maps of a chunk of images or paths -> (n, H_out, W_out) int32."""
    maps = [
        region_map_for_image(
            item if isinstance(item, np.ndarray) else _read_rgb(item), method, params, out_hw
        )
        for item in items
    ]
    return np.stack(maps).astype(np.int32, copy=False)


def compute_region_maps(
    images: np.ndarray | Sequence[str],
    method: str,
    params: dict[str, Any],
    out_hw: tuple[int, int],
    workers: int | None = None,
) -> np.ndarray:
    """Region maps of N images -> (N, H_out, W_out) int32, identical to the serial result.

    images: uint8 (N, H, W, 3) RGB (e.g. a memory map; shared, never copied), or N file paths
    (read with cv2 in the worker, BGR->RGB; an unreadable path raises ValueError naming it).
    workers: None -> available_cpus() (affinity capped by the cgroup CPU limit). Images are
    processed by a thread pool over chunks of about N / (4 * workers) images with OpenCV
    single-threaded: OpenCV releases the GIL, so threads scale like processes without their
    start-up, pickling and fork-after-threads hazards.
    """
    _ensure_method_params(method, params)
    if len(out_hw) != 2 or min(out_hw) < 1:
        raise ValueError(f"out_hw must be (height, width) >= 1, got {out_hw}")
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 (N, H, W, 3) images, got {images.dtype} {images.shape}; "
                "stack RGB uint8 images or pass file paths"
            )
    elif isinstance(images, str):
        raise ValueError(f"expected a sequence of paths, got one string {images!r}; wrap it")
    n_images = len(images)
    if n_images == 0:
        return np.zeros((0, int(out_hw[0]), int(out_hw[1])), dtype=np.int32)
    n_workers = available_cpus() if workers is None else workers
    _ensure_positive("workers", n_workers)
    n_workers = min(n_workers, n_images)
    chunk = max(1, -(-n_images // (4 * n_workers)))
    starts = range(0, n_images, chunk)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            chunks = pool.map(
                lambda start: _region_maps_chunk(images[start : start + chunk], method, params,
                                                 out_hw), starts)  # fmt: skip
            parts = list(track_batches(chunks, n_images, chunk, "img"))
    finally:
        cv2.setNumThreads(threads)
    return np.concatenate(parts, axis=0)


# ---------------------------------------------------------------------------------------------
# region table


def region_table(region_map: np.ndarray) -> dict[str, np.ndarray | list[np.ndarray]]:
    """Per-region statistics of one (H, W) map, one row per id present (sorted, -1 skipped).

    Keys: ``region_id`` (R,) int32, ``n_pixels`` (R,) int64, ``y0, x0, y1, x1`` (R,) int64
    bounding boxes with y1/x1 exclusive, ``neighbors``: list of R sorted int32 arrays of the
    4-connected neighbour ids (from horizontal and vertical id changes; symmetric, no self).
    """
    checks.region_map(region_map)
    width = region_map.shape[1]
    compact, n_regions = compact_ids(region_map)
    flat = compact.ravel()
    valid = flat >= 0
    pixel_index = np.flatnonzero(valid)
    region_of_pixel = flat[valid].astype(np.int64)
    region_ids = np.unique(region_map[region_map >= 0]).astype(np.int32)

    n_pixels = np.bincount(region_of_pixel, minlength=n_regions).astype(np.int64)
    order = np.argsort(region_of_pixel, kind="stable")
    starts = np.concatenate(([0], np.cumsum(n_pixels)[:-1])) if n_regions else np.zeros(0, int)
    ys = (pixel_index // width)[order]
    xs = (pixel_index % width)[order]
    if n_regions:
        y0 = np.minimum.reduceat(ys, starts).astype(np.int64)
        x0 = np.minimum.reduceat(xs, starts).astype(np.int64)
        y1 = np.maximum.reduceat(ys, starts).astype(np.int64) + 1
        x1 = np.maximum.reduceat(xs, starts).astype(np.int64) + 1
    else:
        y0 = x0 = y1 = x1 = np.zeros(0, dtype=np.int64)

    # 4-connected adjacency: pairs (a, b) of different valid ids side by side, both directions
    pairs = [
        (compact[:, :-1].ravel(), compact[:, 1:].ravel()),
        (compact[:-1, :].ravel(), compact[1:, :].ravel()),
    ]
    first = np.concatenate([a for a, _ in pairs] + [b for _, b in pairs]).astype(np.int64)
    second = np.concatenate([b for _, b in pairs] + [a for a, _ in pairs]).astype(np.int64)
    keep = (first != second) & (first >= 0) & (second >= 0)
    keys = np.unique(first[keep] * max(n_regions, 1) + second[keep])  # sorted by (a, b)
    src = keys // max(n_regions, 1)
    dst = keys % max(n_regions, 1)
    split_at = np.cumsum(np.bincount(src, minlength=n_regions))[:-1]
    neighbors = list(np.split(region_ids[dst], split_at)) if n_regions else []
    return {
        "region_id": region_ids,
        "n_pixels": n_pixels,
        "y0": y0,
        "x0": x0,
        "y1": y1,
        "x1": x1,
        "neighbors": neighbors,
    }
