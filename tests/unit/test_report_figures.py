"""Report building blocks with hand-computed cases: AL-curve bands, figures, overlays."""

import numpy as np
import pyarrow as pa
import pytest

from alseg.reporting import figures
from alseg.reporting.curves import Curve, bands, method_name
from alseg.reporting.overlays import (
    NOTHING,
    busiest_images,
    grow,
    overlay,
    palette,
    region_centres,
    region_edges,
)


def test_bands_average_seeds_per_round_and_span_min_to_max() -> None:
    curves = [
        Curve("entropy", np.array([10, 20]), np.array([40.0, 50.0])),
        Curve("entropy", np.array([10, 22]), np.array([44.0, 52.0])),
        Curve("random", np.array([10, 20, 30]), np.array([30.0, 35.0, 38.0])),
    ]
    entropy, random = bands(curves)
    assert (entropy.method, entropy.n_runs, random.n_runs) == ("entropy", 2, 1)
    assert entropy.x.tolist() == [10, 21] and entropy.mean.tolist() == [42, 51]
    assert entropy.low.tolist() == [40, 50] and entropy.high.tolist() == [44, 52]
    assert random.low.tolist() == random.high.tolist() == random.mean.tolist() == [30, 35, 38]


def test_curve_figure_has_one_point_per_round_and_a_band_only_over_seeds() -> None:
    curves = [Curve("a", np.array([40, 60]), np.array([10.0, 20.0])),
              Curve("a", np.array([40, 60]), np.array([12.0, 24.0])),
              Curve("b", np.array([40, 60]), np.array([5.0, 6.0]))]  # fmt: skip
    fig = figures.curve_figure(bands(curves))
    ax = fig.axes[0]
    assert [line.get_xydata().tolist() for line in ax.lines] == [
        [[40, 11], [60, 22]], [[40, 5], [60, 6]]]  # fmt: skip
    assert len(ax.collections) == 1  # the band of 'a' (two seeds), none for 'b'
    assert figures.png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_method_name_is_everything_but_the_seed() -> None:
    config = {
        "acquisition": {"policy": "entropy"},
        "region": {"type": "seeds"},
        "label": {"type": "dominant"},
        "train": {"trainer": "supervised"},
        "seed": 3,
    }
    assert method_name(config) == "entropy/seeds/dominant/supervised"


def test_busiest_images_rank_by_regions_of_the_round_then_index() -> None:
    labels = pa.table({"round": [0, 0, 0, 1, 1, 1, 1], "image_index": [5, 2, 2, 7, 3, 3, 7]})
    assert busiest_images(labels, 0, 3) == [2, 5]
    assert busiest_images(labels, 1, 1) == [3]  # 3 and 7 tie with two regions: lower index
    assert busiest_images(labels, 2, 3) == []


def test_overlay_paints_queried_regions_and_dims_the_rest() -> None:
    image = np.full((2, 4, 3), 100, np.uint8)
    region_map = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    painted = np.array([[2, 2, NOTHING, NOTHING]] * 2, np.uint8)  # region 0 labelled class 2
    colours = np.array([[0, 0, 0], [0, 0, 0], [200, 0, 0]], np.uint8)
    out = overlay(image, region_map, np.array([0]), painted, colours)
    # region 0: 0.4 x 100 + 0.6 x colour (ALPHA 0.6); its pixels next to region 1 are its
    # white outline
    assert out[0, 0].tolist() == [160, 40, 40]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[0, 3].tolist() == [50, 50, 50]  # not queried: dimmed to half (DIM 0.5)


def test_region_edges_centres_and_point_growth() -> None:
    region_map = np.array([[0, 0, 1], [0, 0, 1], [2, 2, 2]])
    edges = region_edges(region_map, region_map == 0)
    assert edges.tolist() == [[False, True, False], [True, True, False], [False] * 3]
    centres = region_centres(region_map, np.array([2, 0]))
    assert centres.tolist() == [[2.0, 1.0], [0.5, 0.5]]
    points = np.full((3, 3), NOTHING, np.uint8)
    points[1, 1] = 4
    assert (grow(points, 1) == 4).all() and (grow(points, 0) == points).all()


def test_palette_gives_distinct_colours() -> None:
    colours = palette(12)
    assert colours.shape == (12, 3) and len({tuple(c) for c in colours}) == 12
    assert palette(30).shape == (30, 3)


@pytest.mark.parametrize("n_rounds", [1, 3])
def test_heatmap_and_distribution_have_one_row_per_round(n_rounds: int) -> None:
    iou = np.full((n_rounds, 3), 50.0)
    iou[0, 1] = np.nan
    heat = figures.iou_heatmap(["a", "b", "c"], iou)
    assert heat.axes[0].images[0].get_array().shape == (n_rounds, 3)
    assert len(heat.axes[0].texts) == 3 * n_rounds - 1  # no number on the NaN cell
    counts = np.tile([[1, 3, 0]], (n_rounds, 1))
    dist = figures.class_distribution_figure(["a", "b", "c"], counts, palette(3), [0.1] * n_rounds)
    widths = sorted({round(p.get_width(), 6) for p in dist.axes[0].patches})
    assert widths == [0.0, 25.0, 75.0]  # shares of 1 and 3 labelled regions out of 4
