"""Progress of long loops (regions, train, score, pseudo, evaluate): counts, rate and ETA.

On a terminal: a tqdm bar (stderr). Elsewhere (pipeline task logs are never a terminal): plain
lines, at most one every ``ALSEG_PROGRESS_SECONDS`` (default 15) seconds and the last one,
with no carriage returns, e.g.::

    [alseg] round 1 · train · progress: 120/200 iter, 3.02 iter/s, elapsed 00:40, ETA 00:26

The label is the running stage's (set by ``alseg.stages.run_stage`` through ``stage_label``);
``alseg run`` shows these lines on its terminal (``alseg.runner.ProgressTee``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from tqdm import tqdm

PREFIX = "[alseg] "
MARKER = " · progress: "
_label = ""


@contextlib.contextmanager
def stage_label(label: str) -> Iterator[None]:
    """Name the progress lines printed inside the block (``round 1 · train``)."""
    global _label
    saved, _label = _label, label
    try:
        yield
    finally:
        _label = saved


def interval_seconds() -> float:
    return float(os.environ.get("ALSEG_PROGRESS_SECONDS", "15"))


class _WholeLines:
    """A file wrapper that drops tqdm's bare ``\\r``/``\\n`` writes (only whole lines pass)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if text.strip("\r\n"):
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class LineProgress(tqdm):
    """tqdm that prints one plain line per refresh (``mininterval`` apart), never a bar."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if self.n == getattr(self, "_line_n", None):  # close() after the last update
            return True
        self._line_n = self.n
        self.fp.write(f"{PREFIX}{self.desc}{MARKER}{meter_line(self.format_dict)}\n")
        self.fp.flush()
        return True


def meter_line(state: dict) -> str:
    """``120/200 iter, 3.02 iter/s, elapsed 00:40, ETA 00:26[, postfix]`` from tqdm's
    ``format_dict`` (rate = the smoothed rate, else n / elapsed; ETA = (total - n) / rate)."""
    n, total, unit, elapsed = state["n"], state["total"], state["unit"], state["elapsed"]
    rate = state["rate"] or (n / elapsed if elapsed and n else None)
    eta = tqdm.format_interval((total - n) / rate) if rate and total else "?"
    speed = f"{rate:.2f} {unit}/s" if rate else f"? {unit}/s"
    postfix = f", {state['postfix']}" if state.get("postfix") else ""
    return (f"{n}/{total if total else '?'} {unit}, {speed}, "
            f"elapsed {tqdm.format_interval(elapsed)}, ETA {eta}{postfix}")  # fmt: skip


def progress(
    iterable: Iterable | None = None,
    total: int | None = None,
    unit: str = "it",
    disable: bool = False,
    stream: TextIO | None = None,
) -> tqdm:
    """A progress counter over ``iterable`` (or ``total`` items, advanced with ``.update(n)``).

    A bar when ``stream`` (default stderr on a terminal, else stdout) is a TTY, else
    ``LineProgress`` lines every ``interval_seconds()``; short loops print nothing but the last
    line. ``.set_postfix_str("loss 0.41", refresh=False)`` adds a value to the next line.
    """
    interval = interval_seconds()
    tty = stream.isatty() if stream is not None else sys.stderr.isatty()
    if tty:
        return tqdm(iterable, total=total, unit=unit, desc=_label or None, file=stream,
                    disable=disable, dynamic_ncols=True)  # fmt: skip
    # position 0: whole lines have no rows to stack (tqdm would give a counter opened while
    # another is open the next row, and move between rows with cursor escape codes)
    return LineProgress(
        iterable, total=total, unit=unit, desc=_label or "progress", disable=disable,
        file=_WholeLines(stream or sys.stdout), mininterval=interval, miniters=1, delay=interval,
        ascii=True, position=0,
    )  # fmt: skip


def track_batches(batches: Iterable, n_items: int, batch_size: int, unit: str) -> Iterator:
    """Yield ``batches`` unchanged, counting ``batch_size`` items per batch (the last: the rest
    of ``n_items``) on a ``progress`` counter."""
    with progress(total=n_items, unit=unit) as counter:
        for batch in batches:
            yield batch
            counter.update(min(batch_size, n_items - counter.n))
