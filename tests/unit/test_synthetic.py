"""Tests for the embedded synthetic road-scene dataset."""

from __future__ import annotations

import numpy as np
import pytest

from alseg.data.synthetic import (
    SYNTHETIC_CLASSES,
    VOID_ID,
    generate_scene,
)

POLE = SYNTHETIC_CLASSES.index("pole")


def test_classes_and_void_id() -> None:
    assert len(SYNTHETIC_CLASSES) == 12
    assert len(set(SYNTHETIC_CLASSES)) == 12
    assert VOID_ID == 12


def test_generate_scene_is_deterministic_and_index_dependent() -> None:
    image_a, label_a = generate_scene(3, 7, 96, 128)
    image_b, label_b = generate_scene(3, 7, 96, 128)
    image_c, label_c = generate_scene(4, 7, 96, 128)
    image_d, _ = generate_scene(3, 8, 96, 128)
    assert image_a.shape == (96, 128, 3) and image_a.dtype == np.uint8
    assert label_a.shape == (96, 128) and label_a.dtype == np.uint8
    np.testing.assert_array_equal(image_a, image_b)
    np.testing.assert_array_equal(label_a, label_b)
    assert not np.array_equal(label_a, label_c)
    assert not np.array_equal(image_a, image_c)
    assert not np.array_equal(image_a, image_d)


@pytest.mark.parametrize(("height", "width"), [(48, 64), (61, 97), (360, 480)])
def test_any_size_from_48x64_works(height: int, width: int) -> None:
    image, label = generate_scene(0, 0, height, width)
    assert image.shape == (height, width, 3)
    assert label.shape == (height, width)
    assert int(label.max()) <= VOID_ID


def test_too_small_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="height >= 48"):
        generate_scene(0, 0, 47, 64)


def _pole_run_lengths(label: np.ndarray) -> np.ndarray:
    """Lengths of horizontal runs of pole pixels (a run of 2 pole pixels in a row -> 2)."""
    mask = np.pad(label == POLE, ((0, 0), (1, 1))).astype(np.int8)
    step = np.diff(mask, axis=1)
    starts = np.argwhere(step == 1)[:, 1]  # row-major order, so starts/ends pair up
    ends = np.argwhere(step == -1)[:, 1]
    return ends - starts


def test_thirty_scenes_cover_all_classes_with_a_long_tail() -> None:
    counts = np.zeros(VOID_ID + 1, dtype=np.int64)
    runs = []
    for index in range(30):
        _, label = generate_scene(index, 0, 96, 128)
        assert int(label.min()) >= 0 and int(label.max()) <= VOID_ID
        counts += np.bincount(label.ravel(), minlength=VOID_ID + 1)
        runs.append(_pole_run_lengths(label))
    class_counts = counts[:VOID_ID]
    assert (class_counts > 0).all(), dict(zip(SYNTHETIC_CLASSES, class_counts, strict=True))
    assert counts[VOID_ID] > 0
    # long tail: largest class share / smallest class share >= 20
    assert class_counts.max() / class_counts.min() >= 20
    pole_runs = np.concatenate(runs)
    assert pole_runs.size > 0
    assert pole_runs.min() >= 1
    assert (pole_runs <= 3).any()  # thin poles, 1-3 px wide
    assert (pole_runs <= 3).mean() > 0.8  # most pole rows are just the pole


def test_several_classes_share_32x32_blocks() -> None:
    _, label = generate_scene(1, 0, 352, 480)
    # 11 x 15 blocks of 32 x 32 -> (165, 1024) pixels per block
    blocks = label.reshape(11, 32, 15, 32).transpose(0, 2, 1, 3).reshape(165, 1024)
    present = np.zeros((165, VOID_ID + 1), dtype=bool)
    present[np.repeat(np.arange(165), 1024), blocks.ravel()] = True
    classes_per_block = present[:, :VOID_ID].sum(axis=1)
    assert (classes_per_block >= 3).sum() >= 10
