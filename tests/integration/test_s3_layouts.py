"""VOC and Cityscapes trees read from a real S3 server equal the same trees read locally
(split lists, city sub-folders listed as prefixes, palette labels)."""

from pathlib import Path

import numpy as np
import pytest

from alseg import storage
from alseg.config import DataConfig
from alseg.stages import prepare
from tests.datasets import write_cityscapes, write_voc
from tests.integration.s3server import S3Server


@pytest.mark.parametrize("layout", ["voc", "cityscapes"])
def test_layout_from_s3_matches_local(layout: str, s3: S3Server, bucket: str, tmp_path) -> None:
    local = (write_voc if layout == "voc" else write_cityscapes)(tmp_path / "data")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        storage.upload_file(path, f"s3://{bucket}/d/{path.relative_to(local).as_posix()}")
    out: dict[str, Path] = {}
    for name, root in (("s3", f"s3://{bucket}/d"), ("local", str(local))):
        out[name] = tmp_path / name
        prepare.run(DataConfig(dataset=layout, root=root, image_size=(32, 48), workers=2),
                    out[name])  # fmt: skip
    for split in ("train", "val"):
        for kind in ("images", "labels"):
            a, b = (np.load(out[n] / f"{split}_{kind}.npy") for n in ("s3", "local"))
            np.testing.assert_array_equal(a, b)
    assert (out["s3"] / "meta.json").read_text() == (out["local"] / "meta.json").read_text()
