"""Stage entry points. Each stage is a pure function of its input folders and parameters, called
the same way from Python, from ``alseg step`` and from its KFP component (``run_stage``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from alseg import faults
from alseg.progress import stage_label
from alseg.secrets import redact
from alseg.stages.common import maybe_fail


def run_stage(
    stage: str, fn: Callable[..., dict], *args: Any, round_index: int | None = None, **kwargs: Any
) -> str:
    """Run one stage: fault-injection hook, a progress line, the summary as JSON."""
    label = f"round {round_index} · {stage}" if round_index is not None else stage
    print(f"[alseg] {label} · started", flush=True)
    start = time.perf_counter()
    try:
        maybe_fail(stage)
        with stage_label(label):
            summary = fn(*args, **kwargs)
    except Exception as err:
        print(redact(f"[alseg] {label} · FAILED: {type(err).__name__}: {err}"), flush=True)
        raise
    brief = {
        k: v for k, v in summary.items()
        if isinstance(v, int | float | str) and k != "round" and len(str(v)) <= 60
    }  # fmt: skip
    print(
        f"[alseg] {label} · done in {time.perf_counter() - start:.1f}s · {json.dumps(brief)}",
        flush=True,
    )
    sys.stdout.flush()
    faults.reached("end")
    return json.dumps(summary, default=str)
