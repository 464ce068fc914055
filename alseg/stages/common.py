"""Helpers shared by the stage entry points: devices, seeds, summaries, fault injection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from alseg import faults


class InjectedFault(RuntimeError):
    """Raised by ``maybe_fail`` to exercise retries and reruns."""


def maybe_fail(stage: str) -> None:
    """Fail on purpose when ``ALSEG_FAIL_STAGE`` names this stage (chaos / rerun testing).

    With ``ALSEG_FAIL_ONCE_FILE`` also set, fail only while that file does not exist yet, and
    create it, so the first attempt fails and the retry succeeds.
    """
    faults.arm(stage)  # ALSEG_KILL_AT: SIGKILL at a point of this stage (resume tests)
    if os.environ.get("ALSEG_FAIL_STAGE") != stage:
        return
    marker = os.environ.get("ALSEG_FAIL_ONCE_FILE")
    if marker:
        if Path(marker).exists():
            return
        Path(marker).touch()
    raise InjectedFault(f"{stage}: failing on purpose (ALSEG_FAIL_STAGE={stage})")


def round_seed(seed: int, round_index: int, salt: int = 0) -> int:
    """A per-round seed: distinct for every (seed, round, salt), stable across runs."""
    return int(np.random.SeedSequence([seed, round_index, salt]).generate_state(1)[0])


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when available; also caps torch's CPU threads at the cgroup CPU limit
    (torch sizes its pool by the node's cores, which oversubscribes a CPU-limited pod)."""
    import torch

    from alseg.cpus import available_cpus

    torch.set_num_threads(min(torch.get_num_threads(), available_cpus()))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available (use auto)")
    return device


def write_json(path: str | Path, payload: dict) -> None:
    Path(path).write_text(json.dumps(payload, indent=1, sort_keys=True))


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
