"""Loading a model folder (``model.pt`` + ``model.json``) as a stage input, with one-line errors:
a missing or corrupt file, weights that do not fit the architecture ``model.json`` describes, a
model of another class count or backbone than the run's, and NaN/inf outputs at inference."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions that need it (the CLI stays light)
    import torch

# what torch.load / load_state_dict raise for a corrupt file or mismatched weights
LOAD_ERRORS = (RuntimeError, ValueError, EOFError, OSError, pickle.UnpicklingError)


class CheckpointError(ValueError):
    """A model folder cannot serve as this stage's model; the message names the file."""


def read_sidecar(folder: str | Path) -> dict:
    """``model.json`` of a model folder; CheckpointError naming it when missing or invalid."""
    path = Path(folder) / "model.json"
    try:
        sidecar = json.loads(path.read_text())
        _ = sidecar["model"]["backbone"], int(sidecar["num_classes"])
    except FileNotFoundError:
        raise CheckpointError(f"{path}: model description not found") from None
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a model description ({err})") from None
    return sidecar


def outputs_for(num_classes: int) -> tuple[int, int]:
    """Output counts a model of a ``num_classes`` dataset may have (+ 1: 'undefined')."""
    return num_classes, num_classes + 1


def check_fits(
    sidecar: dict, folder: str | Path, num_outputs: tuple[int, ...], backbone: str | None
) -> None:
    """CheckpointError unless the model has one of ``num_outputs`` outputs (the dataset's
    classes, + 1 for MulActSeg's 'undefined' class) and, if given, ``backbone``."""
    path = Path(folder) / "model.json"
    if int(sidecar["num_classes"]) not in num_outputs:
        wanted = " or ".join(map(str, num_outputs))
        raise CheckpointError(
            f"{path}: model of {sidecar['num_classes']} classes, this dataset needs {wanted}"
        )
    if backbone is not None and sidecar["model"]["backbone"] != backbone:
        raise CheckpointError(
            f"{path}: backbone '{sidecar['model']['backbone']}', the config says '{backbone}'"
        )


def guard_finite(model: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Make every forward pass raise CheckpointError when the logits hold NaN or inf."""
    import torch

    path = Path(folder) / "model.pt"

    def check(module: torch.nn.Module, inputs: tuple, output: torch.Tensor | tuple) -> None:
        logits = output[0] if isinstance(output, tuple) else output  # (logits, features)
        if not torch.isfinite(logits).all():
            raise CheckpointError(f"{path}: the model outputs NaN or inf (diverged weights?)")

    model.register_forward_hook(check)
    return model


def load_model(
    folder: str | Path, device: str, num_outputs: tuple[int, ...], backbone: str | None = None
) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on ``device`` with the finite-output guard, sidecar) of a model
    folder checked against the run: one of ``num_outputs`` classes and, if given, ``backbone``."""
    from alseg.train import load_checkpoint

    sidecar = read_sidecar(folder)
    check_fits(sidecar, folder, num_outputs, backbone)
    try:
        model, sidecar = load_checkpoint(folder, device)
    except FileNotFoundError:
        raise CheckpointError(f"{Path(folder) / 'model.pt'}: weights file not found") from None
    except LOAD_ERRORS as err:
        problem = str(err).strip().splitlines()[0][:160]
        raise CheckpointError(
            f"{Path(folder) / 'model.pt'}: weights do not load into the "
            f"'{sidecar['model']['backbone']}' model that model.json describes ({problem})"
        ) from None
    return guard_finite(model, folder), sidecar


def load_state(folder: str | Path, num_outputs: int, backbone: str) -> dict[str, torch.Tensor]:
    """The state_dict of a previous model (warm start), checked against the run's model."""
    import torch

    check_fits(read_sidecar(folder), folder, (num_outputs,), backbone)
    path = Path(folder) / "model.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: weights file not found") from None
    except LOAD_ERRORS as err:
        problem = str(err).strip().splitlines()[0][:160]
        raise CheckpointError(f"{path}: not a readable state_dict ({problem})") from None
