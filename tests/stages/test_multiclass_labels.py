"""Multi-class region labels as the annotator gives them: boundary trimming and void handling."""

import numpy as np

from alseg import IGNORE
from alseg.labels import class_lists
from alseg.oracle import annotate_regions

# an 8x8 image, region 0 = columns 0-3, region 1 = columns 4-7
REGIONS = np.repeat(np.array([[0] * 4 + [1] * 4]), 8, axis=0)
GT = np.zeros((8, 8), np.uint8)
GT[:, 3] = 1  # a sliver of class 1 along region 0's border
GT[:, 4:] = 2
GT[4, 6] = IGNORE  # one void pixel inside region 1


def annotate(label_type: str = "multiclass", trim_kernel: int = 0, undefined: bool = False):
    answers = annotate_regions(label_type, GT, REGIONS, 2, 3, trim_kernel, undefined)
    return answers.dominant, class_lists(answers.classes), answers.cost


def test_untrimmed_sets_and_costs() -> None:
    dominant, classes, cost = annotate()
    assert classes.to_pylist() == [[0, 1], [2]] and cost.tolist() == [2, 1]
    assert dominant.tolist() == [0, 2]


def test_trimming_drops_classes_seen_only_in_the_border_band() -> None:
    # boundary pixels: columns 3 and 4; a 3x3 dilation widens the band to columns 2-5, so
    # region 0 lists only what columns 0-1 hold: {0}
    _, classes, cost = annotate(trim_kernel=3)
    assert classes.to_pylist() == [[0], [2]] and cost.tolist() == [1, 1]


def test_void_as_an_undefined_class_costs_a_click() -> None:
    _, classes, cost = annotate(undefined=True)
    assert classes.to_pylist() == [[0, 1], [2, 3]]  # 3 = the 'undefined' id (num_classes)
    assert cost.tolist() == [2, 2]


def test_dominant_and_full_costs() -> None:
    assert annotate("dominant")[2].tolist() == [1, 1]
    assert annotate("full")[2].tolist() == [32, 32]  # pixels, the void one included
