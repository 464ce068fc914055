"""The label-efficiency table of `make bench-al` (bench/label_efficiency.py)."""

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("label_efficiency",
                                              REPO / "bench" / "label_efficiency.py")  # fmt: skip
label_efficiency = importlib.util.module_from_spec(spec)
spec.loader.exec_module(label_efficiency)


def _round(r: int, miou: float, clicks: int) -> dict:
    return {"round": r, "miou": miou, "clicks": clicks, "labeled_pixels_pct": 2.5 * (r + 1),
            "auALC": 100 * miou, "gini": 0.5}  # fmt: skip


def test_table_rows_and_percent_of_full() -> None:
    curves = {
        "full-bench-camvid": [_round(0, 0.40, 33000)],
        "b-random": [_round(0, 0.20, 1000), _round(1, 0.30, 2000)],
        "a-short": [_round(0, 0.20, 1000)],
    }
    lines = label_efficiency.table(curves).splitlines()
    assert lines[0] == ("| experiment | r0 mIoU | r1 mIoU | clicks | % px labelled | AuALC | Gini "
                        "| % of full |")  # fmt: skip
    assert lines[2] == "| a-short | 20.00 | - | 1000 | 2.50 | 20.00 | 0.500 | 50.0 |"
    assert lines[3] == "| b-random | 20.00 | 30.00 | 1000/2000 | 5.00 | 30.00 | 0.500 | 75.0 |"
    assert lines[-1] == "Full supervision (full-bench-camvid): mIoU 40.00."
