"""The run log is written from kfp.local's threads (parallel loop iterations): every line
arrives whole and the file stays valid UTF-8."""

import io
import threading
from pathlib import Path

from alseg.runner import ProgressTee


def test_lines_written_from_threads_arrive_whole(tmp_path: Path) -> None:
    # without the lock, 4 threads x 3,000 lines garbled the file (a split multi-byte character)
    expected = [f"task {k} · line {i} ━━━━ · done" for k in range(4) for i in range(3000)]
    with open(tmp_path / "run.log", "a") as log:
        tee = ProgressTee(log, io.StringIO(), {})

        def write(k: int) -> None:
            for i in range(3000):
                tee.write(f"task {k} · line {i} ━━━━ · done\n")

        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = (tmp_path / "run.log").read_bytes().decode("utf-8").splitlines()
    assert sorted(lines) == sorted(expected)
