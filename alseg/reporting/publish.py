"""Copy a finished report out of the pipeline's artifact folders to ``runs/reports/<name>/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from alseg.storage import atomic_path

EXPERIMENT_FILES = ("report.html", "curve.png", "report.md", "config.yaml")
SWEEP_FILES = ("sweep.html", "curve.png", "sweep.md")


def publish(report: dict, target: str | Path, files: tuple[str, ...]) -> str | None:
    """Copy ``files`` from the report step's folder (``report["report_dir"]``) into ``target``
    (replaced whole, atomically); the path of the first file, or None without a local folder."""
    source = Path(report.get("report_dir") or "")
    if not report.get("report_dir") or not source.is_dir():
        return None
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for name in files:
            if (source / name).is_file():
                shutil.copy(source / name, tmp / name)
    return str(target / files[0])
