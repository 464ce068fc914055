"""Tests for region maps (grid, SEEDS, SLIC), compaction, resizing and the region table."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from alseg.data.synthetic import generate_scene
from alseg.regions import (
    _equalize_hist_global,
    compact_ids,
    compute_region_maps,
    grid_regions,
    region_map_for_image,
    region_table,
    resize_region_map,
    seeds_superpixels,
    slic_superpixels,
)


def test_grid_regions_5x7_cell_3() -> None:
    # ceil(7 / 3) = 3 columns; id = (y // 3) * 3 + x // 3; bottom row / right column are smaller
    expected = np.array(
        [
            [0, 0, 0, 1, 1, 1, 2],
            [0, 0, 0, 1, 1, 1, 2],
            [0, 0, 0, 1, 1, 1, 2],
            [3, 3, 3, 4, 4, 4, 5],
            [3, 3, 3, 4, 4, 4, 5],
        ]
    )
    got = grid_regions(5, 7, 3)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_compact_ids_sorted_order_and_no_region() -> None:
    # sorted ids 3, 7, 12 -> 0, 1, 2; -1 (no region) stays -1 and is not counted
    region_map = np.array([[7, 3], [3, -1], [12, 7]])
    compact, n_regions = compact_ids(region_map)
    assert n_regions == 3
    assert compact.dtype == np.int32
    np.testing.assert_array_equal(compact, [[1, 0], [0, -1], [2, 1]])


def test_region_table_hand_made_3x4() -> None:
    region_map = np.array(
        [
            [0, 0, 1, 1],
            [0, 2, 2, 1],
            [3, 3, 2, 1],
        ],
        dtype=np.int32,
    )
    table = region_table(region_map)
    np.testing.assert_array_equal(table["region_id"], [0, 1, 2, 3])
    assert table["region_id"].dtype == np.int32
    # counts: 0 -> 3, 1 -> 4, 2 -> 3, 3 -> 2 (sum 12 = 3 * 4)
    np.testing.assert_array_equal(table["n_pixels"], [3, 4, 3, 2])
    # bbox (y1, x1 exclusive): 0 rows 0-1 cols 0-1; 1 rows 0-2 cols 2-3;
    # 2 rows 1-2 cols 1-2; 3 row 2 cols 0-1
    np.testing.assert_array_equal(table["y0"], [0, 0, 1, 2])
    np.testing.assert_array_equal(table["x0"], [0, 2, 1, 0])
    np.testing.assert_array_equal(table["y1"], [2, 3, 3, 3])
    np.testing.assert_array_equal(table["x1"], [2, 4, 3, 2])
    # horizontal changes: (0,1) (0,2) (2,1) (3,2) (2,1); vertical: (0,3) (0,2) (2,3) (1,2)
    expected_neighbors = [[1, 2, 3], [0, 2], [0, 1, 3], [0, 2]]
    assert len(table["neighbors"]) == 4
    for got, want in zip(table["neighbors"], expected_neighbors, strict=True):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_region_table_keeps_original_ids_and_skips_no_region() -> None:
    # ids 4 and 10; the -1 pixel is no region and links nothing
    region_map = np.array([[10, -1], [10, 4]])
    table = region_table(region_map)
    np.testing.assert_array_equal(table["region_id"], [4, 10])
    np.testing.assert_array_equal(table["n_pixels"], [1, 2])
    np.testing.assert_array_equal(table["y0"], [1, 0])
    np.testing.assert_array_equal(table["x1"], [2, 1])
    np.testing.assert_array_equal(table["neighbors"][0], [10])
    np.testing.assert_array_equal(table["neighbors"][1], [4])


def test_region_table_single_region_has_no_neighbors() -> None:
    table = region_table(np.zeros((2, 3), dtype=np.int32))
    np.testing.assert_array_equal(table["n_pixels"], [6])
    assert table["neighbors"][0].size == 0


def test_region_table_without_regions_is_empty() -> None:
    table = region_table(np.full((2, 2), -1, dtype=np.int32))
    assert table["region_id"].size == 0
    assert table["neighbors"] == []


def test_equalize_hist_matches_skimage_definition() -> None:
    # one histogram over all 6 values 0, 0, 1, 3, 0, 1 (not per channel):
    # cdf(0) = 3/6, cdf(1) = 5/6, cdf(3) = 6/6
    image = np.array([[[0, 0, 1], [3, 0, 1]]], dtype=np.uint8)
    expected = np.array([[[3, 3, 5], [6, 3, 5]]], dtype=np.float32) / 6.0
    np.testing.assert_allclose(_equalize_hist_global(image), expected)


def test_seeds_256_on_360x480_gives_165_contiguous_regions() -> None:
    image, _ = generate_scene(0, 0, 360, 480)
    region_map = seeds_superpixels(image, 256)
    assert region_map.shape == (360, 480)
    assert region_map.dtype == np.int32
    # ALGORITHMS.md 1.1: N in 192..705 at 360x480 -> 11 x 15 = 165 blocks of 32 x 32
    np.testing.assert_array_equal(np.unique(region_map), np.arange(165))


def test_slic_gives_contiguous_ids() -> None:
    image, _ = generate_scene(2, 0, 96, 128)
    region_map = slic_superpixels(image, region_size=16)
    ids = np.unique(region_map)
    assert region_map.dtype == np.int32
    np.testing.assert_array_equal(ids, np.arange(ids.size))
    assert ids.size > 10  # about (96 / 16) * (128 / 16) = 48 superpixels


def test_resize_region_map_nearest_then_compact() -> None:
    # INTER_NEAREST halving samples source pixels (0, 0), (0, 2), (2, 0), (2, 2):
    # ids 1, 3, 4, 6 survive; the 1-pixel region 2 vanishes; compacted to 0..3
    region_map = np.array([[1, 1, 3, 3], [1, 2, 3, 3], [4, 4, 6, 6], [4, 4, 6, 6]])
    small = resize_region_map(region_map, 2, 2)
    assert small.dtype == np.int32
    np.testing.assert_array_equal(small, [[0, 1], [2, 3]])
    big = resize_region_map(np.array([[5, 9]]), 2, 4)
    np.testing.assert_array_equal(big, [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_region_map_for_image_grid_keeps_full_resolution_cells() -> None:
    # 8 x 8 image, cell 4 -> 2 x 2 cells; downsampled to 4 x 4 each cell is 2 x 2
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    region_map = region_map_for_image(image, "grid", {"cell": 4}, (4, 4))
    np.testing.assert_array_equal(
        region_map, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    )


def test_region_map_for_image_rejects_bad_method_and_params() -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="method must be one of"):
        region_map_for_image(image, "watershed", {}, (8, 8))
    with pytest.raises(ValueError, match="unknown grid params"):
        region_map_for_image(image, "grid", {"cell": 4, "size": 2}, (8, 8))
    with pytest.raises(ValueError, match="needs params"):
        region_map_for_image(image, "seeds", {}, (8, 8))


def _scenes(count: int) -> np.ndarray:
    return np.stack([generate_scene(i, 1, 96, 128)[0] for i in range(count)])


def test_compute_region_maps_parallel_equals_serial() -> None:
    images = _scenes(4)
    params = {"num_superpixels": 48}
    serial = compute_region_maps(images, "seeds", params, (48, 64), workers=1)
    parallel = compute_region_maps(images, "seeds", params, (48, 64), workers=2)
    assert serial.shape == (4, 48, 64) and serial.dtype == np.int32
    np.testing.assert_array_equal(parallel, serial)
    one = region_map_for_image(images[3], "seeds", params, (48, 64))
    np.testing.assert_array_equal(serial[3], one)


def test_compute_region_maps_from_paths(tmp_path: Path) -> None:
    images = _scenes(2)
    paths = []
    for index, image in enumerate(images):
        path = tmp_path / f"img_{index}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(str(path))
    params = {"region_size": 16}
    from_paths = compute_region_maps(paths, "slic", params, (96, 128), workers=2)
    from_arrays = compute_region_maps(images, "slic", params, (96, 128), workers=1)
    np.testing.assert_array_equal(from_paths, from_arrays)


@pytest.mark.parametrize("workers", [1, 2])
def test_compute_region_maps_missing_path_names_the_file(tmp_path: Path, workers: int) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((8, 8, 3), dtype=np.uint8))
    missing = tmp_path / "missing_frame.png"
    with pytest.raises(ValueError, match="missing_frame.png"):
        compute_region_maps([str(good), str(missing)], "grid", {"cell": 4}, (8, 8), workers=workers)
