"""How many cores this process may use: the CPU affinity, capped by the cgroup CPU limit.

``os.cpu_count()`` is the node's core count; a pod limited to 2 CPUs on a 64-core node gets a
CFS quota (cgroup v2 ``cpu.max`` = ``"200000 100000"``, v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``), and thread pools sized by the node would be throttled. The limit is
``ceil(quota / period)``, at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP) -> int | None:
    """Cores allowed by the cgroup quota (v2, else v1); None when unlimited or unknown."""
    v2 = _read(root / "cpu.max")  # "max 100000" or "<quota> <period>"
    if v2:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    quota_v1 = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    period_v1 = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if quota_v1 and period_v1 and int(quota_v1) > 0:
        return max(1, math.ceil(int(quota_v1) / int(period_v1)))
    return None


def available_cpus(root: Path = CGROUP) -> int:
    """min(CPU affinity, cgroup limit): the size for thread pools and torch's intra-op threads."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        affinity = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    return max(1, min(affinity, limit) if limit else affinity)
