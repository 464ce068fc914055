"""The label-efficiency benchmark's CSV -> tables, claims and plot (bench/label_efficiency.py),
on a hand-made CSV whose numbers can be checked by hand."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("label_efficiency",
                                              REPO / "bench" / "label_efficiency.py")  # fmt: skip
bench = importlib.util.module_from_spec(spec)
sys.modules["label_efficiency"] = bench  # dataclasses look their module up
spec.loader.exec_module(bench)

POOL = 1000  # region pool cost: clicks 10 / 50 = 1% / 5%


def _row(arm: str, seed: int, rnd: int, clicks: int, miou: float, pole: float = 0.1,
         px: float = 1.0, pool: int = POOL) -> dict:  # fmt: skip
    iou = {f"iou_{c}": 0.5 for c in bench.CAMVID_CLASSES}
    iou.update({f"iou_{c}": 0.2 for c in bench.RARE_CLASSES})
    iou["iou_Pole"] = pole
    return {"commit": "abc", "config_hash": f"h-{arm}", "arm": arm, "seed": seed, "round": rnd,
            "clicks": clicks, "pool_cost": pool, "labelled_pixels_pct": px, "miou": miou, **iou,
            "iterations": 400, "wall_s": 10.0, "cpu_s": 20.0, "finished": "t"}  # fmt: skip


def _csv(tmp_path: Path) -> Path:
    rows = [_row("full", s, 0, 10**9, m, px=100.0) for s, m in ((0, 0.50), (1, 0.52))]
    rows += [_row("full-2x", s, 0, 10**9, m, px=100.0) for s, m in ((0, 0.51), (1, 0.52))]
    # random: seed 0 -> 0.30, 0.40; seed 1 -> 0.32, 0.42 (AuALC = mean of the trapezoid)
    rows += [_row("random", 0, 0, 10, 0.30), _row("random", 0, 1, 50, 0.40)]
    rows += [_row("random", 1, 0, 10, 0.32), _row("random", 1, 1, 50, 0.42)]
    # entropy beats random by 4 and 2 points at round 1; Pole IoU up by 0.5 / 0.4
    rows += [_row("entropy", 0, 0, 10, 0.30), _row("entropy", 0, 1, 50, 0.48, pole=0.6)]
    rows += [_row("entropy", 1, 0, 10, 0.32), _row("entropy", 1, 1, 50, 0.46, pole=0.5)]
    rows += [_row("pixelpick", 0, 0, 10, 0.40, px=0.01), _row("pixelpick", 0, 1, 50, 0.47,
                                                               px=0.05)]  # fmt: skip
    # a stale row of another setting is left out of every table
    rows.append({**_row("random", 2, 0, 10, 0.99), "config_hash": "old"})
    path = tmp_path / "results.csv"
    bench.append_rows(rows[:5], path)
    bench.append_rows(rows[5:], path)  # appending keeps one header
    return path


def test_rows_round_trip(tmp_path: Path) -> None:
    rows = bench.read_rows(_csv(tmp_path))
    assert len(rows) == 15 and rows[0]["arm"] == "full" and rows[0]["miou"] == 0.5
    assert (tmp_path / "results.csv").read_text().count("commit,config_hash") == 1
    assert bench.done(rows, "random", 1, "h-random") and not bench.done(rows, "random", 2, "h-x")


def test_report_numbers(tmp_path: Path) -> None:
    rows = bench.read_rows(_csv(tmp_path))
    current = {a: f"h-{a}" for a in ("full", "full-2x", "random", "entropy", "pixelpick")}
    result = bench.report(rows, current)
    text = result["markdown"]
    assert "Full supervision: mIoU 51.00 ± 1.41 (2)." in text
    assert "schedule doubled: mIoU 51.50 ± 0.71 (2) (difference +0.50 points)" in text
    # random: r0 31 ± 1.41, r1 41 ± 1.41; AuALC = (30+40)/2, (32+42)/2 -> 36 ± 1.41
    assert "| random | 31.00 ± 1.41 (2) | 41.00 ± 1.41 (2) | 36.00 ± 1.41 (2) |" in text
    # entropy AuALC (30+48)/2 = 39 and (32+46)/2 = 39 -> paired diffs vs random 4 and 2 ->
    # 3 ± 1.41, above; last round 48-40 and 46-42 -> 6 ± 2.83
    assert "| entropy | 3.00 ± 1.41 (2) | 6.00 ± 2.83 (2) | above |" in text
    assert result["pool"] == POOL
    assert result["curves"]["random"][0] == [1.0, 5.0]
    np.testing.assert_allclose(result["curves"]["entropy"][1], [31.0, 47.0])
    claims = result["claims"]
    # (a) best arm at <= 5% of clicks: entropy (48 + 46) / 2 = 47 -> 47 / 51 = 92.2% (pixelpick
    # ties at 47 and comes later)
    assert claims["a"] == ("best arm at <= 5% of the pool's clicks: entropy at 92.2% of full "
                           "supervision -> not confirmed")  # fmt: skip
    assert claims["d"] == "AuALC vs random: entropy above, pixelpick one seed (not testable)"
    # (e) pixelpick 47 / 51 = 92.2% of full with 0.05% of pixels labelled
    assert claims["e"] == ("PixelPick at 92.2% of full with 0.050% of the pixels labelled -> "
                           "confirmed")  # fmt: skip
    assert "99.00" not in text  # the stale row


def test_rare_classes_and_verdicts() -> None:
    row = _row("entropy", 0, 1, 50, 0.48, pole=0.6)
    assert bench.rare_iou(row) == pytest.approx(100 * (0.6 + 4 * 0.2) / 5)
    assert bench.verdict([1.0, 2.0, 3.0]) == "above"  # mean 2 > std 1, all positive
    assert bench.verdict([1.0, -1.0, 3.0]) == "tie"
    assert bench.verdict([-3.0, -2.0]) == "below"
    assert bench.verdict([0.1, 5.0]) == "tie"  # mean 2.55 < std 3.46
    assert bench.verdict([1.0]) == "one seed (not testable)"


def test_plot_has_a_line_per_arm(tmp_path: Path) -> None:
    rows = bench.read_rows(_csv(tmp_path))
    result = bench.report(rows, {a: f"h-{a}" for a in ("full", "random", "entropy")})
    assert set(result["curves"]) == {"random", "entropy"}
    path = tmp_path / "curve.png"
    bench.plot_curves(result, path)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (540, 840, 3)
    # matplotlib's first two line colours (C0 blue, C1 orange) are drawn
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(image.astype(int) - colour).sum(-1) < 30).sum() > 50


def test_claim_a_counts_the_rounded_five_percent_point() -> None:
    """The schedule's 5% point is 3,028 clicks of a 60,546-region pool (5.001%): it counts."""
    pool = 60546
    rows = [_row("full", 0, 0, 10**9, 0.50, pool=pool),
            _row("entropy", 0, 0, 606, 0.30, pool=pool), _row("entropy", 0, 1, 3028, 0.48,
                                                              pool=pool),
            _row("entropy", 0, 2, 6056, 0.49, pool=pool)]  # fmt: skip
    claims = bench.report(rows)["claims"]
    assert claims["a"] == ("best arm at <= 5% of the pool's clicks: entropy at 96.0% of full "
                           "supervision -> confirmed")  # fmt: skip


def test_convergence_gap_gates_the_al_arms() -> None:
    hashes = {"full": "h-full", "full-2x": "h-full-2x"}
    rows = [_row("full", 0, 0, 10**9, 0.5063)]
    assert bench.convergence_gap(rows, hashes) is None  # not measured yet
    rows.append(_row("full-2x", 0, 0, 10**9, 0.5251))
    assert bench.convergence_gap(rows, hashes) == pytest.approx(1.88)  # > 1: AL arms wait
    assert bench.convergence_gap(rows, {"full": "h-full", "full-2x": "other"}) is None
