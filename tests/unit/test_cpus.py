"""Thread pools sized by the cgroup CPU limit (hand-written cgroup files)."""

import os
from pathlib import Path

import pytest

from alseg.cpus import available_cpus, cgroup_cpu_limit


@pytest.mark.parametrize(
    "cpu_max, expected",
    [("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1), ("max 100000", None)],
)
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, expected: int | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert cgroup_cpu_limit(tmp_path) == expected


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    assert cgroup_cpu_limit(tmp_path) == 4
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert cgroup_cpu_limit(tmp_path) is None


def test_available_is_the_smaller_of_affinity_and_limit(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == affinity  # no cgroup files: affinity only
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(affinity + 8) * 100000} 100000\n")
    assert available_cpus(tmp_path) == affinity


def test_region_pool_uses_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """compute_region_maps(workers=None) sizes its pool by available_cpus, not the node."""
    import numpy as np

    from alseg import regions

    sizes = []
    real_pool = regions.ThreadPoolExecutor

    def pool(max_workers: int):
        sizes.append(max_workers)
        return real_pool(max_workers=max_workers)

    monkeypatch.setattr(regions, "available_cpus", lambda: 1)
    monkeypatch.setattr(regions, "ThreadPoolExecutor", pool)
    images = np.zeros((4, 32, 32, 3), np.uint8)
    regions.compute_region_maps(images, "grid", {"cell": 8}, (32, 32))
    assert sizes == [1]
