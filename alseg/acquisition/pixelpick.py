"""PixelPick per-image pixel queries: top-k uncertain, then uniform (ALGORITHMS.md §3.8, §2.3).

For one image with uncertainty u (H, W) (LARGER = MORE UNCERTAIN; e.g.
``pixel_uncertainty(probs, "margin")``, which is 1 - (p_(1) - p_(2)) and ranks exactly like
PixelPick's smallest-margin rule) and an ``excluded`` mask (already-labelled pixels and pixels
whose GT is void; oracle knowledge):

1. k = int(H * W * top_fraction) (PixelPick ``--top_n_percent 0.05``), capped at the number of
   non-excluded pixels;
2. T = the k non-excluded pixels with the largest u;
3. draw min(n_pixels, k) pixels of T uniformly without replacement
   (``--n_pixels_by_us 10``) with ``generator.choice`` over T sorted by flat index y * W + x.

PixelPick masks excluded pixels to the least-uncertain value instead of removing them, so with
fewer than k available pixels it could draw excluded ones; here they are never drawn. Because
the draw is over T sorted by flat index, the result depends only on the set T, so the numpy and
the batched torch versions agree for the same generator state (up to ties at the k-th value,
where torch.topk's choice is unspecified).
"""

from __future__ import annotations

import numpy as np
import torch


def _check_params(top_fraction: float, n_pixels: int, generator: np.random.Generator) -> None:
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}; PixelPick uses 0.05")
    if n_pixels < 0:
        raise ValueError(f"n_pixels must be >= 0, got {n_pixels}; PixelPick uses 10")
    if not isinstance(generator, np.random.Generator):
        raise ValueError(
            f"generator must be a np.random.Generator, got {type(generator).__name__}; "
            "pass np.random.default_rng(seed)"
        )


def _draw(
    top_sorted: np.ndarray, n_pixels: int, width: int, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform draw without replacement of min(n_pixels, k) flat ids -> (ys, xs) int64."""
    n = min(n_pixels, top_sorted.size)
    flat = top_sorted[generator.choice(top_sorted.size, size=n, replace=False)]
    ys, xs = np.divmod(flat.astype(np.int64), width)
    return ys, xs


def pixelpick_sample(
    uncertainty: np.ndarray,
    excluded: np.ndarray,
    top_fraction: float = 0.05,
    n_pixels: int = 10,
    *,
    generator: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Query pixels of one image: uncertainty (H, W) float, excluded (H, W) bool -> (ys, xs).

    ys, xs are int64 (M,), M = min(n_pixels, k), k = min(int(H W top_fraction), #non-excluded),
    in draw order; see the module docstring. Ties in u rank the lower flat index first.
    """
    _check_params(top_fraction, n_pixels, generator)
    u = np.asarray(uncertainty, dtype=np.float64)
    ex = np.asarray(excluded)
    if u.ndim != 2:
        raise ValueError(
            f"uncertainty must be 2-D (H, W), got shape {u.shape}; pass one image's map"
        )
    if ex.shape != u.shape or ex.dtype != np.bool_:
        raise ValueError(
            f"excluded must be a bool array of shape {u.shape}, got {ex.dtype} {ex.shape}; "
            "mark labelled and void-GT pixels True"
        )
    cand = np.flatnonzero(~ex.ravel())
    vals = u.ravel()[cand]
    if np.isnan(vals).any():
        raise ValueError(
            "uncertainty must not be NaN at non-excluded pixels, got NaN; "
            "check the probabilities or mark those pixels excluded"
        )
    h, w = u.shape
    k = min(int(h * w * top_fraction), cand.size)
    top = np.sort(cand[np.argsort(-vals, kind="stable")[:k]])
    return _draw(top, n_pixels, w, generator)


def pixelpick_sample_batch(
    uncertainty: torch.Tensor,
    excluded: torch.Tensor,
    top_fraction: float = 0.05,
    n_pixels: int = 10,
    *,
    generator: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``pixelpick_sample`` for a batch: uncertainty (B, H, W), excluded (B, H, W) bool.

    One batched ``topk`` on the tensor's device (excluded pixels masked to -inf and dropped),
    then one uniform draw per image with ``generator`` in batch order. Returns B (ys, xs) pairs
    of int64 numpy arrays; equal to calling ``pixelpick_sample`` image by image with the same
    generator.
    """
    _check_params(top_fraction, n_pixels, generator)
    if not isinstance(uncertainty, torch.Tensor) or uncertainty.ndim != 3:
        shape = tuple(uncertainty.shape) if isinstance(uncertainty, torch.Tensor) else None
        raise ValueError(
            f"uncertainty must be a (B, H, W) tensor, got {shape}; "
            "use pixel_uncertainty(probs, measure)"
        )
    if not uncertainty.is_floating_point():
        raise ValueError(
            f"uncertainty must be floating, got dtype {uncertainty.dtype}; cast with .float()"
        )
    if (
        not isinstance(excluded, torch.Tensor)
        or excluded.dtype != torch.bool
        or excluded.shape != uncertainty.shape
    ):
        got = (
            (excluded.dtype, tuple(excluded.shape)) if isinstance(excluded, torch.Tensor) else None
        )
        raise ValueError(
            f"excluded must be a bool tensor of shape {tuple(uncertainty.shape)}, got {got}; "
            "mark labelled and void-GT pixels True"
        )
    idx, n_valid = top_uncertain(uncertainty, excluded, top_fraction)
    idx_np, n_np = idx.cpu().numpy(), n_valid.cpu().numpy()
    width = uncertainty.shape[2]
    return [_draw(idx_np[i, : n_np[i]], n_pixels, width, generator) for i in range(len(idx_np))]


def top_uncertain(
    uncertainty: torch.Tensor, excluded: torch.Tensor, top_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 1 for a batch: the k = int(H W top_fraction) most uncertain non-excluded pixels.

    uncertainty (B, H, W) float, excluded (B, H, W) bool -> (idx (B, k) int64 flat ids y W + x,
    each row ascending with the sentinel H W after its valid ids; n_valid (B,) int64). One
    batched ``topk`` on the tensor's device; excluded pixels are never kept.
    """
    b, h, w = uncertainty.shape
    excluded = excluded.to(uncertainty.device)
    if torch.isnan(uncertainty).logical_and(~excluded).any():
        raise ValueError(
            "uncertainty must not be NaN at non-excluded pixels, got NaN; "
            "check the probabilities or mark those pixels excluded"
        )
    k = min(int(h * w * top_fraction), h * w)
    flat_ex = excluded.reshape(b, h * w)
    masked = uncertainty.reshape(b, h * w).masked_fill(flat_ex, float("-inf"))
    idx = masked.topk(k, dim=1, sorted=False).indices  # (B, k), sorted by id below
    valid = ~flat_ex.gather(1, idx)
    idx = torch.where(valid, idx, torch.full_like(idx, h * w)).sort(dim=1).values
    return idx, valid.sum(dim=1)


def pixels_per_image(clicks: int, n_images: int, generator: np.random.Generator) -> np.ndarray:
    """Split a round's click budget over images: (n_images,) int64, clicks // n each, and one
    more for clicks % n images drawn uniformly (PixelPick states budgets per image)."""
    counts = np.full(n_images, clicks // max(n_images, 1), np.int64)
    counts[generator.permutation(n_images)[: clicks % max(n_images, 1)]] += 1
    return counts


def draw_per_image(
    image_index: np.ndarray,
    flat_ids: np.ndarray,
    counts: np.ndarray,
    generator: np.random.Generator,
) -> np.ndarray:
    """Step 2 for a pool: per image, ``counts[image]`` of its candidates uniformly without
    replacement (all of them when fewer). Rows of (image_index, flat_ids) sorted by image, then
    id -> chosen row positions (images ascending, draw order within an image)."""
    starts = np.flatnonzero(np.diff(image_index, prepend=-1))
    ends = np.append(starts[1:], len(image_index))
    picked = []
    for start, end in zip(starts, ends, strict=True):  # one uniform draw per image
        n = min(int(counts[image_index[start]]), end - start)
        picked.append(start + generator.choice(end - start, size=n, replace=False))
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)
