"""Input checks shared by the core modules: small named guards that raise ValueError with the
expected value, the value received and the fix (numpy inputs; torch guards stay next to the
tensor code that needs them)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def int_array(x: Any, name: str, ndim: int | None = None, hint: str = "") -> np.ndarray:
    """``x`` as an integer numpy array (of ``ndim`` dimensions when given)."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be an integer array, got dtype {arr.dtype}; convert it with "
            f"{name}.astype(np.int64){hint}."
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D, got shape {arr.shape}; pass one image at a time "
            "(index the batch) or flatten the coordinate lists."
        )
    return arr


def region_map(x: Any, name: str = "region_map") -> np.ndarray:
    """One image's region ids: integer (H, W) with ids >= -1 (-1 = no region)."""
    rm = int_array(x, name, 2)
    if rm.size and rm.min() < -1:
        raise ValueError(
            f"{name} ids must be >= -1 (-1 = no region), got {rm.min()}; relabel regions "
            "to 0 .. n_regions - 1."
        )
    return rm


def one_d(name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` unchanged when it is 1-D (N,)."""
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (N,), got shape {arr.shape}; flatten with .reshape(-1)"
        )
    return arr


def as_numpy(x: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU); anything else unchanged. Never
    imports torch: a tensor can only exist once torch is imported."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return x
