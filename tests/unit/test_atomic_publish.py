"""Atomic publication of stage outputs (storage.atomic_path) and the clean-up of temporaries left
by killed stages (storage.remove_stale_temps), with a real SIGKILL at the publish point."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alseg import storage

WRITER = """
import sys
from pathlib import Path
from alseg import faults, storage

faults.arm("demo")
with storage.atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "part.txt").write_text("new")
"""


def test_a_failing_block_leaves_the_earlier_output_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "part.txt").write_text("old")
    with pytest.raises(RuntimeError), storage.atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "part.txt").write_text("half")
        raise RuntimeError("stage failed")
    assert (target / "part.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_sigkill_at_publish_leaves_the_earlier_output_then_the_temporary_is_removed(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "part.txt").write_text("old")
    env = {**os.environ, "ALSEG_KILL_AT": "demo:publish"}
    done = subprocess.run([sys.executable, "-c", WRITER, str(target)], env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert (target / "part.txt").read_text() == "old"  # complete or absent: the old one
    left = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert len(left) == 1 and left[0].name.startswith(f".out.{storage.TEMP_MARK}")
    assert storage.remove_stale_temps(tmp_path) == 1  # its process is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    env.pop("ALSEG_KILL_AT")
    subprocess.run([sys.executable, "-c", WRITER, str(target)], env=env, check=True, timeout=60)
    assert (target / "part.txt").read_text() == "new"


def test_temporaries_of_live_processes_are_kept(tmp_path: Path) -> None:
    mine = tmp_path / f".out.{storage.TEMP_MARK}{os.getpid()}-abc"
    mine.mkdir()
    assert storage.remove_stale_temps(tmp_path) == 0 and mine.is_dir()


def test_paths_outside_the_dataset_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.png").write_bytes(b"x")
    (root / "train" / "b.png").symlink_to(tmp_path / "elsewhere.png")
    storage.check_within(str(root), str(root / "train" / "a.png"))
    storage.check_within("s3://bucket/data", "s3://bucket/data/train/a.png")
    for root_uri, uri in [(str(root), str(root / "train" / "b.png")),
                          (str(root), str(root / ".." / "x.png")),
                          ("s3://bucket/data", "s3://bucket/data/../secret.png"),
                          ("s3://bucket/data", "s3://bucket/database/a.png")]:  # fmt: skip
        with pytest.raises(storage.StorageError, match="escapes the dataset root"):
            storage.check_within(root_uri, uri)
