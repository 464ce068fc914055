"""MulActSeg Stage-1 losses for multi-class (multi-hot) region labels (ALGORITHMS.md 4.1).

Notation: ``logits z (B, C, H, W)``, ``p = softmax(z)`` over C. The caller applies the
temperature (MulActSeg uses tau = 0.1 on every term); the cosine head of
:mod:`alseg.models` already returns ``cos / T``, so its logits are passed as they are, while a
linear head's logits must be divided by tau first.

Label representation (one for the whole module):

- ``regions (B, H, W)`` integer region ids, ``-1`` = pixel outside every labelled region (not
  selected, or padding); ids are per image, ``0 .. R - 1``.
- ``region_classes (B, R, C) bool``: the multi-hot label Y_r of region r of image b (all False
  for unlabelled regions). On Cityscapes-style "predignore" training C includes the undefined
  channel, which is then an ordinary candidate.
- ``candidate_mask (B, C, H, W) bool``: True where class c is a candidate for that pixel, i.e.
  ``Y_{r(x)}`` broadcast to pixels (:func:`candidate_mask_from_regions`). A pixel with no
  candidate is unlabelled and contributes nothing.

Losses:

- merged positive (L_MP): ``l(x) = -log sum_{c in Y} p_c(x) = lse(z(x)) - lse(z(x)[Y])``,
  split into ``ce`` (pixels with |Y| = 1) and ``mc`` (|Y| >= 2); each part is the sum over
  its pixels divided by (count + 1). The original adds eps inside the log; logsumexp is exact.
- prototypical pixel (L_PP): for every region present in the batch with |Y_r| >= 2 and every
  c in Y_r, ``l(r, c) = -log max_{x in r} p_c(x) = -max_{x in r} log p_c(x)``; the sum over
  pairs divided by (n_pairs + 1). Regions whose pixels were all cropped away are skipped.
- total ``L = 16 * ce + 8 * mc + 1 * pp`` (``--coeff 16 --coeff_mc 8 --coeff_gm 1``).

All counts and denominators run over the whole batch; no Python loop over regions or pixels
(scatter over flat ``b * R + r`` ids).
"""

from __future__ import annotations

import torch

__all__ = [
    "candidate_mask_from_regions",
    "merged_positive_loss",
    "mulactseg_loss",
    "prototypical_pixel_loss",
]


# ----------------------------------------------------------------------------- guards
def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
        raise ValueError(
            f"logits must be a (B, C, H, W) tensor, got {shape}; pass the model output "
            "(batch the image with x[None] if needed)."
        )
    if not logits.is_floating_point():
        raise ValueError(
            f"logits must be floating point, got dtype {logits.dtype}; pass raw model logits."
        )


def _check_regions(
    regions: torch.Tensor, region_classes: torch.Tensor, logits: torch.Tensor | None
) -> None:
    if regions.ndim != 3 or regions.dtype.is_floating_point or regions.dtype == torch.bool:
        raise ValueError(
            f"regions must be an integer (B, H, W) tensor, got shape {tuple(regions.shape)} "
            f"dtype {regions.dtype}; pass region ids with -1 for unlabelled pixels."
        )
    if region_classes.ndim != 3 or region_classes.dtype != torch.bool:
        raise ValueError(
            f"region_classes must be a bool (B, R, C) tensor, got shape "
            f"{tuple(region_classes.shape)} dtype {region_classes.dtype}; convert the "
            "multi-hot labels with .bool()."
        )
    if region_classes.shape[0] != regions.shape[0]:
        raise ValueError(
            f"regions and region_classes must have the same batch size, got "
            f"{regions.shape[0]} and {region_classes.shape[0]}; pass one row per image."
        )
    if logits is not None:
        b, c, h, w = logits.shape
        if tuple(regions.shape) != (b, h, w):
            raise ValueError(
                f"regions must have shape (B, H, W) = {(b, h, w)} to match logits, got "
                f"{tuple(regions.shape)}; upsample logits to label resolution first."
            )
        if region_classes.shape[2] != c:
            raise ValueError(
                f"region_classes must have C = {c} columns (the logits' classes), got "
                f"{region_classes.shape[2]}; keep or drop the undefined channel consistently."
            )
    if regions.numel():
        lo, hi = int(regions.min()), int(regions.max())
        if lo < -1 or hi >= region_classes.shape[1]:
            raise ValueError(
                f"region ids must lie in [-1, R) with R = {region_classes.shape[1]}, got "
                f"[{lo}, {hi}]; size region_classes for every region id of the image."
            )


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half / bfloat16 (AMP) logits are upcast to float32; float64 stays float64."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


# ----------------------------------------------------------------------------- candidates
def candidate_mask_from_regions(
    regions: torch.Tensor, region_classes: torch.Tensor
) -> torch.Tensor:
    """Per-pixel candidate sets ``(B, C, H, W) bool``: ``mask[b, c, y, x] = Y_{r}[c]``.

    ``r = regions[b, y, x]``; pixels with ``r = -1`` get no candidate. One ``gather``.
    """
    _check_regions(regions, region_classes, None)
    b, h, w = regions.shape
    c = region_classes.shape[2]
    reg = regions.to(torch.int64).reshape(b, h * w)
    if region_classes.shape[1] == 0:  # no region at all: every pixel is unlabelled
        return torch.zeros((b, c, h, w), dtype=torch.bool, device=regions.device)
    idx = reg.clamp(min=0)[:, :, None].expand(b, h * w, c)
    cand = region_classes.gather(1, idx) & (reg >= 0)[:, :, None]  # (B, HW, C)
    return cand.permute(0, 2, 1).reshape(b, c, h, w)


# ----------------------------------------------------------------------------- losses
def merged_positive_loss(
    logits: torch.Tensor, candidate_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Merged positive loss split by candidate-set size: ``{"ce": ..., "mc": ...}`` scalars.

    ``l(x) = logsumexp_c z_c(x) - logsumexp_{c in Y(x)} z_c(x) = -log sum_{c in Y(x)} p_c(x)``.
    ``ce = sum_{|Y(x)| = 1} l(x) / (n_1 + 1)``, ``mc = sum_{|Y(x)| >= 2} l(x) / (n_2 + 1)``,
    counts over the whole batch; pixels with an empty Y(x) are ignored.
    """
    _check_logits(logits)
    if candidate_mask.dtype != torch.bool or candidate_mask.shape != logits.shape:
        raise ValueError(
            f"candidate_mask must be a bool tensor of the logits' shape {tuple(logits.shape)}, "
            f"got {tuple(candidate_mask.shape)} dtype {candidate_mask.dtype}; build it with "
            "candidate_mask_from_regions(regions, region_classes)."
        )
    z = _at_least_fp32(logits)
    n_cand = candidate_mask.sum(dim=1)  # (B, H, W)
    # Pixels without candidates keep their full logits so that no logsumexp sees only -inf
    # (its gradient would be NaN); they are dropped below anyway.
    keep = candidate_mask | (n_cand == 0)[:, None]
    z_pos = z.masked_fill(~keep, float("-inf"))
    loss = torch.logsumexp(z, dim=1) - torch.logsumexp(z_pos, dim=1)  # (B, H, W)
    single = n_cand == 1
    multi = n_cand >= 2
    zero = loss.new_zeros(())
    ce = torch.where(single, loss, zero).sum() / (single.sum() + 1)
    mc = torch.where(multi, loss, zero).sum() / (multi.sum() + 1)
    return {"ce": ce, "mc": mc}


def prototypical_pixel_loss(
    logits: torch.Tensor, regions: torch.Tensor, region_classes: torch.Tensor
) -> torch.Tensor:
    """Prototypical pixel (MIL) loss, a scalar.

    ``L_PP = sum_{(r, c)} -max_{x in r} log p_c(x) / (n_pairs + 1)`` over pairs with
    ``|Y_r| >= 2``, ``c in Y_r`` and r owning at least one pixel of ``regions (B, H, W)``.
    The max is a ``scatter_reduce("amax")`` of log-probabilities over flat ids ``b * R + r``.
    """
    _check_logits(logits)
    _check_regions(regions, region_classes, logits)
    b, c, h, w = logits.shape
    n_reg = region_classes.shape[1]
    logp = torch.log_softmax(_at_least_fp32(logits), dim=1).permute(0, 2, 3, 1).reshape(-1, c)
    reg = regions.to(torch.int64).reshape(b, h * w)
    inside = reg >= 0
    offsets = torch.arange(b, device=reg.device)[:, None] * n_reg
    key = (reg + offsets)[inside]  # (M,) flat region id of every labelled pixel
    src = logp[inside.reshape(-1)]  # (M, C)
    best = logp.new_full((b * n_reg, c), float("-inf"))
    best = best.scatter_reduce(0, key[:, None].expand(-1, c), src, "amax", include_self=False)
    present = torch.bincount(key, minlength=b * n_reg) > 0  # (B * R,)
    rc = region_classes.reshape(b * n_reg, c)
    pairs = rc & ((rc.sum(dim=1) >= 2) & present)[:, None]
    return -best[pairs].sum() / (pairs.sum() + 1)


def mulactseg_loss(
    logits: torch.Tensor,
    regions: torch.Tensor,
    region_classes: torch.Tensor,
    w_ce: float = 16.0,
    w_mc: float = 8.0,
    w_pp: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stage-1 objective ``(total, {"ce", "mc", "pp"})``.

    ``total = w_ce * ce + w_mc * mc + w_pp * pp`` with the released defaults 16 / 8 / 1;
    ``w_pp = 0`` is the "w/o L_PP" ablation, ``w_mc = 0`` the "w/o L_MP" one. ``logits`` must
    already carry the temperature (see the module docstring).
    """
    _check_logits(logits)
    _check_regions(regions, region_classes, logits)
    cand = candidate_mask_from_regions(regions, region_classes)
    parts = merged_positive_loss(logits, cand)
    parts["pp"] = prototypical_pixel_loss(logits, regions, region_classes)
    total = w_ce * parts["ce"] + w_mc * parts["mc"] + w_pp * parts["pp"]
    return total, parts
