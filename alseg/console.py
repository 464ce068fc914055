"""What ``alseg run`` shows while a pipeline runs: each step event, the steps running now and
for how long, and their progress (counts, rate, ETA from ``alseg.progress`` lines).

On a terminal the running steps share one live status line (redrawn every second, cleared
before each event line); elsewhere events and progress are plain lines, plus a heartbeat line
(``round 1 · train · running 01:30``) when nothing was printed for ``heartbeat`` seconds.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from alseg.progress import MARKER, interval_seconds

STARTED = re.compile(r"^(.*) · started$")
ENDED = re.compile(r"^(.*?) · (?:done in|FAILED)")
CLEAR = "\r\x1b[K"


class StepBoard:
    """The steps running now (label -> start time and last progress) and the terminal lines."""

    def __init__(self, terminal: TextIO, tty: bool | None = None, heartbeat: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.terminal, self.clock = terminal, clock
        self.tty = terminal.isatty() if tty is None else tty
        self.heartbeat = 2 * interval_seconds() if heartbeat is None else heartbeat
        self.running: dict[str, float] = {}
        self.progress: dict[str, str] = {}
        self.last_output = clock()
        self.drawn = False  # a status line is on the terminal
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def event(self, text: str) -> None:
        """One ``[alseg]`` line of a task (without the prefix): track it and show it."""
        label, marker, meter = text.partition(MARKER)
        if marker:
            with self.lock:  # the ticker thread reads these dicts
                self.progress[label] = meter
            if self.tty:
                self.tick()
            else:
                self.say(f"{label} · {meter}")
            return
        started, ended = STARTED.match(text), ENDED.match(text)
        with self.lock:
            if started:
                self.running[started.group(1)] = self.clock()
            elif ended:
                self.running.pop(ended.group(1), None)
                self.progress.pop(ended.group(1), None)
        self.say(text)

    def say(self, text: str) -> None:
        """Print one event line (on a terminal: above the status line)."""
        with self.lock:
            prefix = CLEAR if self.tty else ""
            self.terminal.write(f"{prefix}  {text}\n")
            self.last_output = self.clock()
            self.drawn = False
            if self.tty:
                self._draw()
            self.terminal.flush()

    def _draw(self) -> None:
        """(Re)draw the status line; nothing when no step runs and none is drawn."""
        status = self.status()
        if status or self.drawn:
            self.terminal.write(CLEAR + status)
            self.terminal.flush()
        self.drawn = bool(status)

    def status(self) -> str:
        """``▸ round 1 · train 01:20 · 120/200 iter, ...`` for each running step."""
        now = self.clock()
        parts = []
        for label, since in self.running.items():
            meter = self.progress.get(label)
            elapsed = tqdm.format_interval(now - since)
            parts.append(f"{label} {elapsed}" + (f" · {meter}" if meter else ""))
        if not parts:
            return ""
        width = shutil.get_terminal_size((120, 20)).columns - 1
        return ("  ▸ " + " | ".join(parts))[:width]

    def tick(self) -> None:
        """Redraw the status line (terminal) or print a heartbeat after ``heartbeat`` s quiet."""
        with self.lock:
            if self.tty:
                self._draw()
                return
            now = self.clock()
            if not self.running or now - self.last_output < self.heartbeat:
                return
            for label, since in self.running.items():
                self.terminal.write(f"  {label} · running {tqdm.format_interval(now - since)}\n")
            self.last_output = now
            self.terminal.flush()

    def __enter__(self) -> StepBoard:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.tty:
            self.terminal.write(CLEAR)
            self.terminal.flush()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()
