"""Pixel-wise uncertainty measures (ALGORITHMS.md §3.2).

Every measure is oriented so that LARGER = MORE UNCERTAIN, which lets all acquisition code
rank by descending score. With p_(1) >= p_(2) the two largest class probabilities at a pixel:

- ``entropy``: H(x) = -sum_c p_c log p_c, with 0 log 0 = 0 (no epsilon, as in PixelPick).
  Range [0, log C].
- ``least_confidence``: LC(x) = 1 - p_(1). Range [0, 1 - 1/C].
- ``margin``: 1 - (p_(1) - p_(2)). PixelPick scores M(x) = p_(1) - p_(2) and selects the
  SMALLEST; 1 - M is a strictly decreasing map of M, so descending 1 - M ranks pixels
  identically. Range [0, 1].
- ``bvsb``: B(x) = p_(2) / (p_(1) + 1e-8) (Joshi et al.; the 1e-8 is MulActSeg's). Range [0, 1].
"""

from __future__ import annotations

import torch

MEASURES: tuple[str, ...] = ("entropy", "least_confidence", "margin", "bvsb")

_BVSB_EPS = 1e-8


def ensure_probs(probs: torch.Tensor) -> None:
    """Check that ``probs`` is a floating (B, C, H, W) tensor with C >= 2; raise ValueError."""
    if not isinstance(probs, torch.Tensor):
        raise ValueError(
            f"probs must be a torch.Tensor of shape (B, C, H, W), got {type(probs).__name__}; "
            "convert with torch.as_tensor(...)"
        )
    if probs.ndim != 4:
        raise ValueError(
            f"probs must be 4-D (B, C, H, W), got shape {tuple(probs.shape)}; "
            "add a batch axis with probs.unsqueeze(0) for a single image"
        )
    if not probs.is_floating_point():
        raise ValueError(
            f"probs must be a floating tensor, got dtype {probs.dtype}; "
            "pass softmax probabilities (e.g. logits.softmax(dim=1))"
        )
    if probs.shape[1] < 2:
        raise ValueError(
            f"probs must have at least 2 classes on axis 1, got C={probs.shape[1]}; "
            "pass the full per-class softmax, not a single channel"
        )


def _compute_dtype(probs: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs, float64 kept as is."""
    return torch.promote_types(probs.dtype, torch.float32)


def top_two(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest and second-largest value over C of (B, C, H, W) -> two (B, H, W) tensors."""
    first, second, _ = _top_two(probs, with_argmax=False)
    return first, second


def top_two_with_argmax(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(p_(1), p_(2), argmax) over C of (B, C, H, W) -> three (B, H, W) tensors.

    On ties p_(2) = p_(1) and the argmax is the lowest tied class.
    """
    first, second, winner = _top_two(probs, with_argmax=True)
    return first, second, winner


def _top_two(probs: torch.Tensor, with_argmax: bool):
    """One pass over the C planes with in-place (B, H, W) updates, in cache:
    p_(2) <- max(p_(2), min(p_(1), p_c)), p_(1) <- max(p_(1), p_c), argmax <- c where p_c > p_(1).
    (About 4x faster on CPU than max(dim=1) then a masked second max: no (B, C, H, W) temporary.)
    """
    a, b = probs[:, 0], probs[:, 1]
    first, second = torch.maximum(a, b), torch.minimum(a, b)
    winner = torch.gt(b, a).to(probs.dtype) if with_argmax else None
    scratch, keep = torch.empty_like(first), torch.empty_like(first)
    for c in range(2, probs.shape[1]):
        plane = probs[:, c]
        if winner is not None:  # (winner - c) keep + c, keep = [p_c <= p_(1)] as a float
            winner.sub_(c).mul_(torch.le(plane, first, out=keep)).add_(c)
        torch.maximum(second, torch.minimum(first, plane, out=scratch), out=second)
        torch.maximum(first, plane, out=first)
    return first, second, None if winner is None else winner.long()


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(x) = -sum_c p_c log p_c of (B, C, H, W) -> (B, H, W), 0 log 0 = 0.

    Accumulated plane by plane, p_c log max(p_c, tiny) (tiny = smallest normal float: exact at
    p_c = 0, and differs from p_c log p_c by < 1e-36 for subnormal p_c); about 3x faster on CPU
    than one xlogy over the whole (B, C, H, W) tensor.
    """
    out = torch.zeros_like(probs[:, 0])
    scratch = torch.empty_like(out)
    for c in range(probs.shape[1]):
        subtract_plane_entropy(out, probs[:, c], scratch)
    return out


def subtract_plane_entropy(total: torch.Tensor, plane: torch.Tensor, scratch: torch.Tensor) -> None:
    """total -= p log max(p, tiny) for one class plane p, in place (``scratch``: same shape)."""
    log_p = torch.clamp_min(plane, torch.finfo(plane.dtype).tiny, out=scratch).log_()
    total.addcmul_(plane, log_p, value=-1)


def bvsb(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """B(x) = p_(2) / p_(1) (+1e-8), in (0, 1], larger = more uncertain."""
    return p2 / (p1 + _BVSB_EPS)


def pixel_uncertainty(probs: torch.Tensor, measure: str) -> torch.Tensor:
    """Per-pixel uncertainty of softmax ``probs`` (B, C, H, W) -> (B, H, W) float32.

    ``measure`` is one of MEASURES; see the module docstring for the formulas. Larger values
    always mean more uncertain.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}; pick one of those")
    ensure_probs(probs)
    p = probs.to(_compute_dtype(probs))
    if measure == "entropy":
        out = entropy(p)
    elif measure == "least_confidence":
        out = 1.0 - p.amax(dim=1)
    else:
        p1, p2 = top_two(p)
        if measure == "margin":
            out = 1.0 - (p1 - p2)
        else:  # bvsb
            out = bvsb(p1, p2)
    return out.to(torch.float32)
