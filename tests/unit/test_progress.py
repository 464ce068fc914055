"""Progress lines (alseg.progress) and the running-step board of ``alseg run`` (alseg.console)."""

import io

from alseg.console import CLEAR, StepBoard
from alseg.progress import meter_line, progress, stage_label, track_batches


def test_meter_line_gives_counts_rate_and_eta_by_hand() -> None:
    state = {"n": 50, "total": 200, "unit": "iter", "elapsed": 25.0, "rate": None, "postfix": ""}
    # rate = 50 / 25 s = 2 iter/s; ETA = (200 - 50) / 2 = 75 s
    assert meter_line(state) == "50/200 iter, 2.00 iter/s, elapsed 00:25, ETA 01:15"
    state.update(rate=4.0, postfix="loss 0.5000")
    assert meter_line(state).endswith("4.00 iter/s, elapsed 00:25, ETA 00:37, loss 0.5000")


def test_non_tty_progress_prints_whole_labelled_lines(monkeypatch) -> None:
    monkeypatch.setenv("ALSEG_PROGRESS_SECONDS", "0")  # a line on every update
    out = io.StringIO()
    with stage_label("round 1 · train"):
        counter = progress(total=3, unit="iter", stream=out)
        for step in range(3):
            counter.set_postfix_str(f"loss {step}", refresh=False)
            counter.update()
        counter.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("[alseg] round 1 · train · progress: 0/3 iter")
    assert [line.split("progress: ")[1].split(" ")[0] for line in lines] == [
        "0/3", "1/3", "2/3", "3/3"]  # fmt: skip
    assert lines[-1].endswith("ETA 00:00, loss 2") and "iter/s" in lines[-1]


def test_short_loops_print_nothing_between_intervals(monkeypatch) -> None:
    monkeypatch.setenv("ALSEG_PROGRESS_SECONDS", "60")
    out = io.StringIO()
    assert list(progress(range(5), unit="img", stream=out)) == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""


def test_track_batches_counts_items_of_every_batch(monkeypatch) -> None:
    monkeypatch.setenv("ALSEG_PROGRESS_SECONDS", "0")
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    batches = list(track_batches(range(0, 10, 4), 10, 4, "img"))  # batches of 4, 4, 2 images
    assert batches == [0, 4, 8]
    counts = [line.split("progress: ")[1].split(" ")[0] for line in out.getvalue().splitlines()]
    assert counts == ["0/10", "4/10", "8/10", "10/10"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_board_prints_heartbeat_for_a_quiet_running_step() -> None:
    out, clock = io.StringIO(), Clock()
    board = StepBoard(out, tty=False, heartbeat=30, clock=clock)
    board.event("round 1 · train · started")
    clock.now += 29
    board.tick()  # quiet for 29 s < 30 s: nothing
    clock.now += 2
    board.tick()
    board.event("round 1 · train · progress: 5/10 iter, 1.00 iter/s, elapsed 00:05, ETA 00:05")
    board.event("round 1 · train · done in 31.0s · {}")
    clock.now += 60
    board.tick()  # nothing running: no heartbeat
    assert out.getvalue().splitlines() == [
        "  round 1 · train · started",
        "  round 1 · train · running 00:31",
        "  round 1 · train · 5/10 iter, 1.00 iter/s, elapsed 00:05, ETA 00:05",
        "  round 1 · train · done in 31.0s · {}",
    ]


def test_board_on_a_terminal_keeps_one_status_line() -> None:
    out, clock = io.StringIO(), Clock()
    board = StepBoard(out, tty=True, clock=clock)
    board.event("round 0 · score · started")
    clock.now += 75
    board.event("round 0 · score · progress: 8/16 img, 2.00 img/s, elapsed 00:04, ETA 00:04")
    assert (
        board.status()
        == "  ▸ round 0 · score 01:15 · 8/16 img, 2.00 img/s, elapsed 00:04, ETA 00:04"
    )
    board.event("round 0 · score · done in 75.0s · {}")
    text = out.getvalue()
    assert "8/16 img" in text  # drawn on the status line, which each event line clears first
    shown = [segment.split(CLEAR)[-1] for segment in text.split("\n")[:-1]]
    assert shown == ["  round 0 · score · started", "  round 0 · score · done in 75.0s · {}"]
    assert text.endswith("\n") and board.status() == ""
