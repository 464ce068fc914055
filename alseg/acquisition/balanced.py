"""Class-balanced region acquisition: PixBal, ClassBal, CBAL (ALGORITHMS.md §3.3-§3.5).

Torch functions take batched tensors (probs (B, C, H, W), regions (B, H, W), -1 = no region) and
are vectorized; the region-level scoring functions are numpy over a flat candidate index
0 .. N-1 (e.g. ``scores.reshape(-1)`` of a (B, n_regions) tensor; the caller keeps the mapping
to (image, region id)). Every score is oriented LARGER = MORE INFORMATIVE, so the output goes
straight into ``select.rank_order`` / ``select.select_under_budget``.

Typical pipelines:

- PixBal (MulActSeg): p = softmax(z / tau), tau = 0.1. ``acc = PriorAccumulator();
  acc.update(p)`` per pool batch; ``w = pixbal_weights(acc.value(), nu)``; the region scores
  come from one pass (``alseg.acquisition.policies.pixbal``).
- ClassBal (Cai): u = ``aggregate_regions(pixel_uncertainty(p, "bvsb"), regions, n, "mean")``,
  d = ``region_class_histogram(p.argmax(1), regions, n, C).argmax(-1)``, then
  ``classbal_region_scores(u.reshape(-1), d.reshape(-1), C, selected)``.
- CBAL (OREAL): H, pbar = ``cbal_region_statistics(p, regions, n)`` (the same values as
  ``aggregate_regions(pixel_uncertainty(p, "entropy"), regions, n, "mean")`` and
  ``region_means(p, regions, n)``, in one pass), delta = ``oreal.items_per_class(counts, Q)``, then
  ``cbal_region_scores(H.reshape(-1), pbar.reshape(-1, C), delta, 2.0, labelled)`` and top-Q.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from alseg.checks import as_numpy, one_d

if TYPE_CHECKING:  # torch is imported by the score-stage functions only: region scores are numpy
    import torch

# ----------------------------------------------------------------------------- guards


def _as_1d_float(name: str, values: np.ndarray | torch.Tensor) -> np.ndarray:
    """numpy float64 copy of a 1-D array/tensor; ValueError otherwise."""
    values = as_numpy(values)
    return one_d(name, np.asarray(values, dtype=np.float64))


def _as_mask(name: str, mask: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    """numpy bool (n,) mask; ValueError on dtype or shape mismatch."""
    mask = as_numpy(mask)
    arr = np.asarray(mask)
    if arr.dtype != np.bool_ or arr.shape != (n,):
        raise ValueError(
            f"{name} must be a bool array of shape ({n},), got {arr.dtype} {arr.shape}; "
            "pass one boolean per candidate region"
        )
    return arr


# ----------------------------------------------------------------------------- PixBal (§3.4)


class PriorAccumulator:
    """Running mean of per-batch class priors, exactly as MulActSeg's first pass (§3.4).

    rhō = (1/K) sum_{k=1..K} mean_{(b, x) in batch k} p_c(b, x): every batch has equal weight,
    whatever its size. ``update(probs (B, C, H, W))`` adds one batch, ``value()`` -> (C,) float32.
    Sums are kept in float64 on the device of the first batch.
    """

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None
        self._n_batches = 0

    @property
    def n_batches(self) -> int:
        """Number of batches added so far."""
        return self._n_batches

    def update(self, probs: torch.Tensor) -> None:
        """Add the batch mean of ``probs`` (B, C, H, W) (temperature-scaled softmax)."""
        import torch

        from alseg.acquisition.uncertainty import ensure_probs

        ensure_probs(probs)
        batch_mean = probs.mean(dim=(0, 2, 3)).to(torch.float64)  # float32 pass, no copy
        if self._sum is None:
            self._sum = batch_mean
        else:
            if batch_mean.shape != self._sum.shape:
                raise ValueError(
                    f"probs must have C={self._sum.shape[0]} classes like earlier batches, got "
                    f"C={batch_mean.shape[0]}; use one model output size for the whole pool"
                )
            self._sum = self._sum + batch_mean.to(self._sum.device)
        self._n_batches += 1

    def value(self) -> torch.Tensor:
        """Mean of the per-batch priors, (C,) float32."""
        import torch

        if self._sum is None:
            raise ValueError(
                "PriorAccumulator.value() needs at least 1 batch, got 0; call update(probs) "
                "for every pool batch first"
            )
        return (self._sum / self._n_batches).to(torch.float32)


def pixbal_weights(prior: np.ndarray | torch.Tensor, nu: float) -> np.ndarray:
    """PixBal class weights w_c = (1 + nu * rhō_c)^(-2): prior (C,) -> (C,) float32 numpy.

    ``nu`` = MulActSeg ``--cls_weight_coeff`` (6 Cityscapes, 12 VOC). Computed in float64 as
    1 / (b * b), b = 1 + nu * rhō_c (bit-equal to torch's float64 ``pow(-2)``), then rounded.
    """
    p = np.asarray(as_numpy(prior))
    if p.ndim != 1 or not np.issubdtype(p.dtype, np.floating):
        raise ValueError(
            f"prior must be a 1-D (C,) float array, got {p.dtype} {p.shape}; "
            "pass PriorAccumulator.value()"
        )
    if nu < 0:
        raise ValueError(f"nu must be >= 0, got {nu}; use e.g. 6 (Cityscapes) or 12 (VOC)")
    base = 1.0 + nu * p.astype(np.float64)
    return (1.0 / (base * base)).astype(np.float32)


# ----------------------------------------------------------------------------- ClassBal (§3.3)


def classbal_region_scores(
    region_bvsb_mean: np.ndarray | torch.Tensor,
    region_dominant_pred: np.ndarray | torch.Tensor,
    num_classes: int,
    selected_mask: np.ndarray | torch.Tensor,
) -> np.ndarray:
    """ClassBal (Cai et al.) score per region -> (N,) float64.

    Inputs over all N pool regions, labelled ones included:
    - ``region_bvsb_mean`` (N,) u_j = mean BvSB of region j (NaN = region without pixels);
    - ``region_dominant_pred`` (N,) int d_j = dominant predicted class, i.e.
      ``region_class_histogram(probs.argmax(1), regions, n_regions, C).argmax(-1)`` flattened;
    - ``selected_mask`` (N,) bool, regions already selected in earlier rounds.

    rho_c = |{j : d_j = c}| / |{j}| over regions with pixels (non-NaN u_j, selected included);
    w_c = exp(-rho_c); f_j = w_{d_j} (u_j - min u) / (max u - min u), min/max over the non-NaN
    u_j. If max u = min u the normalised term is taken as 1 (the class weight alone ranks).
    Selected regions -> 0; regions without pixels stay NaN (``rank_order`` skips them).
    """
    u = _as_1d_float("region_bvsb_mean", region_bvsb_mean)
    n = u.shape[0]
    region_dominant_pred = as_numpy(region_dominant_pred)
    d = np.asarray(region_dominant_pred)
    if d.shape != (n,) or not np.issubdtype(d.dtype, np.integer):
        raise ValueError(
            f"region_dominant_pred must be an integer array of shape ({n},), got "
            f"{d.dtype} {d.shape}; pass region_class_histogram(...).argmax(-1).reshape(-1)"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}; pass C")
    selected = _as_mask("selected_mask", selected_mask, n)
    has = ~np.isnan(u)
    if has.any() and (d[has].min() < 0 or d[has].max() >= num_classes):
        raise ValueError(
            f"region_dominant_pred must lie in [0, {num_classes}), got "
            f"[{int(d[has].min())}, {int(d[has].max())}]; pass num_classes = model outputs"
        )
    out = np.full(n, np.nan)
    if not has.any():
        return out
    counts = np.bincount(d[has], minlength=num_classes)
    weights = np.exp(-counts / counts.sum())
    lo, hi = u[has].min(), u[has].max()
    norm = (u[has] - lo) / (hi - lo) if hi > lo else np.ones(int(has.sum()))
    out[has] = weights[d[has]] * norm
    out[selected & has] = 0.0
    return out


# ----------------------------------------------------------------------------- CBAL (§3.5)


def cbal_region_statistics(
    probs: torch.Tensor, regions: torch.Tensor, n_regions: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """CBAL's two region statistics in one pass over the C class planes of ``probs``:
    (H̄ (B, n_regions), mean pixel entropy; p̄ (B, n_regions, C), mean probability vector),
    float32, NaN for regions without pixels; pixels of region -1 are ignored.

    Each plane p_c (B, H W) is added to its region sums and to the pixel entropy while it is in
    cache; the entropy's region sums and the pixel counts are two more columns of the same
    (B, C + 2, n_regions + 1) table (column n_regions collects the pixels of region -1).
    """
    import torch

    from alseg.acquisition.aggregate import region_row_ids
    from alseg.acquisition.uncertainty import ensure_probs, subtract_plane_entropy

    ensure_probs(probs)
    b, c, h, w = probs.shape
    ids = region_row_ids(regions, (b, h, w), n_regions, probs.device)
    planes = probs.to(torch.promote_types(probs.dtype, torch.float32)).reshape(b, c, h * w)
    sums = torch.zeros(b, c + 2, n_regions + 1, dtype=planes.dtype, device=planes.device)
    entropy, scratch = torch.zeros_like(planes[:, 0]), torch.empty_like(planes[:, 0])
    for k in range(c):
        sums[:, k].scatter_add_(1, ids, planes[:, k])
        subtract_plane_entropy(entropy, planes[:, k], scratch)
    sums[:, c].scatter_add_(1, ids, entropy)
    sums[:, c + 1].scatter_add_(1, ids, torch.ones_like(entropy))
    counts = sums[:, c + 1 :, :n_regions]
    means = torch.where(counts > 0, sums[:, : c + 1, :n_regions] / counts, torch.nan).float()
    return means[:, c], means[:, :c].transpose(1, 2).contiguous()


def cbal_region_scores(
    region_entropy_mean: np.ndarray | torch.Tensor,
    region_prob_mean: np.ndarray | torch.Tensor,
    delta: np.ndarray | torch.Tensor,
    lam: float = 2.0,
    labelled_mask: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """CBAL as adapted by OREAL -> (N,) float64.

    score(r) = H̄(r) - lam * || p̄(r) - delta / sum(delta) ||_1
    with ``region_entropy_mean`` (N,) H̄(r) the mean pixel entropy, ``region_prob_mean`` (N, C)
    p̄(r) the mean probability vector (``region_means``), ``delta`` (C,) the ItemsPerClass
    counts (``oreal.items_per_class``), lam = 2. ``labelled_mask`` (N,) bool -> -inf (also pass
    ``eligible=~labelled_mask`` to ``select_under_budget``, which ranks -inf last but keeps it).
    NaN inputs (regions without pixels) give NaN. OREAL adds 1e-7 inside the entropy log;
    ``pixel_uncertainty(..., "entropy")`` does not (difference < 1e-6 per pixel).
    """
    h = _as_1d_float("region_entropy_mean", region_entropy_mean)
    n = h.shape[0]
    region_prob_mean = as_numpy(region_prob_mean)
    p = np.asarray(region_prob_mean, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n:
        raise ValueError(
            f"region_prob_mean must be (N, C) with N={n}, got shape {p.shape}; "
            "pass region_means(probs, regions, n_regions).reshape(-1, C)"
        )
    dl = _as_1d_float("delta", delta)
    if dl.shape[0] != p.shape[1]:
        raise ValueError(
            f"delta must have C={p.shape[1]} entries (one per class), got {dl.shape[0]}; "
            "pass items_per_class(counts, q) for the model's classes"
        )
    if (dl < 0).any() or dl.sum() <= 0:
        raise ValueError(
            f"delta must be >= 0 with a positive sum, got {dl.tolist()}; "
            "pass items_per_class(counts, q) with q > 0"
        )
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}; OREAL uses 2.0")
    out = h - lam * np.abs(p - dl / dl.sum()).sum(axis=1)
    if labelled_mask is not None:
        out[_as_mask("labelled_mask", labelled_mask, n)] = -np.inf
    return out
