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


def test_kfp_local_thread_races_leave_no_indented_print(capsys) -> None:
    # kfp.local wraps each task in indented_print and local_logger_context from its thread; two
    # parallel iterations interleaving (enter A, enter B, exit A, exit B) leave B's saved
    # "original", A's 4-space print and stream handler, in place: the bug that indented later
    # prints of the test process. restored_process_globals puts print and the root logger back.
    import builtins
    import logging

    from kfp.local import logging_utils

    from alseg.runner import restored_process_globals

    root = logging.getLogger()
    before = (builtins.print, root.handlers[:], root.level)
    with restored_process_globals():
        a, b = logging_utils.indented_print(), logging_utils.indented_print()
        la, lb = logging_utils.local_logger_context(), logging_utils.local_logger_context()
        for context in (a, la, b, lb):
            context.__enter__()
        for context in (a, la, b, lb):
            context.__exit__(None, None, None)
        print("inside")
        assert builtins.print is not before[0] and root.handlers != before[1]  # the race's leak
    print("after")
    assert capsys.readouterr().out == "    inside\nafter\n"
    assert (builtins.print, root.handlers, root.level) == before
