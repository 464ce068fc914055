"""``alseg step`` chains stages on local folders exactly as the pipeline does."""

import json
from pathlib import Path

from alseg.cli import main

TINY = str(Path(__file__).parents[2] / "configs" / "tiny-mulactseg.yaml")


def step(stage: str, out: Path, capsys, *inputs: str, extra: tuple[str, ...] = ()) -> dict:
    args = ["step", stage, TINY, "--out", str(out), *extra]
    for pair in inputs:
        args += ["--input", pair]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_stages_chain_through_the_cli(tmp_path: Path, capsys) -> None:
    d = {name: tmp_path / name for name in ("prepared", "regions", "init", "labels", "model",
                                            "pseudo", "model2")}  # fmt: skip
    step("prepare", d["prepared"], capsys)
    step("regions", d["regions"], capsys, f"prepared={d['prepared']}")
    step("init", d["init"], capsys, f"prepared={d['prepared']}", f"regions={d['regions']}")
    labels = step(
        "oracle",
        d["labels"],
        capsys,
        f"queries={d['init']}",
        f"prepared={d['prepared']}",
        f"regions={d['regions']}",
        f"init={d['init']}",
    )
    assert labels["clicks_total"] <= 40
    common = (f"prepared={d['prepared']}", f"regions={d['regions']}")
    assert step("train", d["model"], capsys, *common, f"labels={d['labels']}")["stage"] == 1
    pseudo = step(
        "pseudo", d["pseudo"], capsys, *common, f"labels={d['labels']}", f"model={d['model']}"
    )
    assert pseudo["pseudo_pixels"] > 0
    second = step(
        "train",
        d["model2"],
        capsys,
        f"prepared={d['prepared']}",
        f"labels={d['pseudo']}",
        extra=("--train-stage", "2"),
    )
    assert second["stage"] == 2 and (d["model2"] / "model.pt").is_file()
