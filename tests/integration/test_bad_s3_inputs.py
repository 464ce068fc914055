"""Bad S3 input against the real S3 server (part of the bad-input corpus, tests/corpus): a
bucket that does not exist and a key prefix that does not exist give one line naming the URI,
exit status 2 and no output."""

import uuid
from pathlib import Path

import pytest

from alseg.cli import main

TINY = Path(__file__).parents[2] / "configs" / "tiny.yaml"


@pytest.mark.parametrize(
    "where, message",
    [("missing-bucket", "the bucket does not exist"), ("missing-prefix", "folder not found")],
)
def test_missing_s3_data_gives_one_line(s3, bucket, tmp_path, capsys, where, message) -> None:
    root = (f"s3://nobucket-{uuid.uuid4().hex[:8]}/data" if where == "missing-bucket"
            else f"s3://{bucket}/nothing-here")  # fmt: skip
    out = tmp_path / "prepared"
    code = main(["step", "prepare", str(TINY), "--set", "data.dataset=camvid", "--data-root",
                 root, "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith(f"alseg: error: {root}") and message in err
    assert not out.exists() and not list(tmp_path.glob(".prepared.*"))
