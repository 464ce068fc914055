"""Kill points for resume tests: ``ALSEG_KILL_AT=STAGE:POINT`` makes the process running STAGE
SIGKILL itself there (no cleanup, no exception handler runs, as with an OOM kill or a lost node).

Points: ``start`` (before the stage's work), ``publish`` (the stage's output is complete in its
temporary folder, just before the rename that publishes it), ``end`` (the output is published,
the component has not returned yet: e.g. MLflow not yet logged, no cache entry yet), or a number
of seconds after the stage starts (a random point mid-work). With ``ALSEG_KILL_ONCE_FILE`` set,
only the first process to reach the point dies (it creates that file first).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

_armed: dict[str, bool] = {"publish": False, "end": False}


def _target() -> tuple[str, str]:
    stage, _, point = os.environ.get("ALSEG_KILL_AT", "").partition(":")
    return stage, point


def _claim() -> bool:
    """True if this process may die now (the once-marker did not exist yet)."""
    marker = os.environ.get("ALSEG_KILL_ONCE_FILE")
    if not marker:
        return True
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


def die() -> None:
    """SIGKILL this process (if the once-marker allows it)."""
    if _claim():
        os.kill(os.getpid(), signal.SIGKILL)


def arm(stage: str) -> None:
    """Called as ``stage`` starts: die now, start the timer, or arm ``publish`` / ``end``."""
    target, point = _target()
    if target != stage or not point:
        return
    if point == "start":
        die()
    elif point in _armed:
        _armed[point] = True
    else:
        timer = threading.Timer(float(point), die)
        timer.daemon = True
        timer.start()


def reached(point: str) -> None:
    """Called at ``publish`` (outermost atomic rename) and ``end``: die if armed there."""
    if _armed.get(point):
        _armed[point] = False
        die()
