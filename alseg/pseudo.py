"""MulActSeg Stage-2 pseudo-labels: prototypes, thresholds, label expansion (ALGORITHMS.md 4.2).

One image at a time. Inputs:

- ``features f (D, H, W)``: the decoder feature, L2-normalised over D and upsampled to the
  label resolution (:func:`prepare_features`), so ``<f(x), f(y)>`` is a cosine similarity.
- ``probs p (C, H, W)``: softmax of the logits **without** the training temperature. With the
  cosine head of :mod:`alseg.models` (logits = cos / T) that is ``softmax(logits * T)``; with a
  linear head it is ``softmax(logits)``. Only the per-class argmax over the pixels of a region
  is used, and that ranking depends on the temperature.
- ``region_map (H, W)`` integer region ids ``0 .. R - 1`` of every region of the image
  (labelled or not; ``-1`` = no region), any integer dtype.
- ``region_classes (R, C) bool``: the (trimmed) multi-hot label Y_r of each labelled region,
  all False for unlabelled ones; single-class regions are included ("includeonehot").
- ``labelled (R,) bool``, optional: which regions were queried. Defaults to "Y_r is not
  empty"; pass it to mark queried regions whose class set is empty (e.g. all-void regions):
  they get no prototype and their pixels stay 255 at the end (step 5 gives them no label).

Steps (per labelled r, c in Y_r):

1. prototypes: ``x*_{r,c} = argmax_{x in r} p_c(x)`` (ties -> lowest flat pixel index),
   ``mu_{r,c} = f(x*_{r,c})``;
2. localisation: ``yhat(x) = argmax_{c in Y_r} <f(x), mu_{r,c}>`` for x in r (ties -> lowest
   class id), ``s(x)`` = that maximum;
3. thresholds: ``theta_{r,c}`` = median (``torch.median`` semantics: the lower of the two middle
   values for an even count) or min of ``s(x)`` over ``x in r`` with ``yhat(x) = c``; 1.0 if no
   pixel of r chose c;
4. expansion: ``N(r)`` = regions touched by a 3x3 binary dilation of r's mask (r included, i.e.
   8-adjacency); every pixel x of every region of N(r) gets ``c' = argmax_{c in Y_r}
   <f(x), mu_{r,c}>`` if ``exists c in Y_r: <f(x), mu_{r,c}> > theta_{r,c}`` (strict). Regions
   are applied in id order, later ones overwriting: for each pixel the highest claiming region
   id wins, computed at once as an ``amax`` over ``r * C + c'``;
5. pixels of labelled regions are overwritten with ``yhat``; everything else stays 255.

Vectorised over regions and pixels (scatter / sort over flat ids); Python loops only over
classes and over fixed-size chunks of (region, pixel) pairs to bound memory. Integer and bool
inputs (region map, labels, flags) are moved to the features' device; ``probs`` must already
be there. Returned maps live on that device too (``.cpu().numpy()`` before saving a PNG).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alseg import IGNORE

__all__ = [
    "THRESHOLD_METHODS",
    "expand_labels",
    "localize_in_regions",
    "prepare_features",
    "prototype_thresholds",
    "pseudo_label_image",
    "region_adjacency_dilated",
    "region_prototypes",
]

THRESHOLD_METHODS: tuple[str, ...] = ("median", "min")
_CHUNK = 1 << 15  # (region, pixel) pairs per gathered block: 2 * 32768 * D floats at a time


# ----------------------------------------------------------------------------- guards
def _check_region_map(region_map: torch.Tensor, n_regions: int | None = None) -> torch.Tensor:
    """Return ``region_map`` as int64 (H, W) after checking ids lie in [-1, n_regions)."""
    rm = torch.as_tensor(region_map)
    if rm.ndim != 2 or rm.dtype.is_floating_point or rm.dtype == torch.bool:
        raise ValueError(
            f"region_map must be an integer (H, W) tensor, got shape {tuple(rm.shape)} dtype "
            f"{rm.dtype}; pass one image's region ids (-1 = no region)."
        )
    rm = rm.to(torch.int64)
    if rm.numel():
        lo, hi = int(rm.min()), int(rm.max())
        top = hi + 1 if n_regions is None else n_regions
        if lo < -1 or hi >= top:
            raise ValueError(
                f"region_map ids must lie in [-1, {top}), got [{lo}, {hi}]; size the per-region "
                "arrays for every region id of the image."
            )
    return rm


def _check_features(features: torch.Tensor, shape: tuple[int, int]) -> None:
    if features.ndim != 3 or not features.is_floating_point():
        raise ValueError(
            f"features must be a float (D, H, W) tensor, got shape {tuple(features.shape)} "
            f"dtype {features.dtype}; take one image of the decoder feature (prepare_features)."
        )
    if tuple(features.shape[1:]) != shape:
        raise ValueError(
            f"features must have spatial size {shape} (the region map's), got "
            f"{tuple(features.shape[1:])}; upsample them with prepare_features(f, size)."
        )


def _check_classes(region_classes: torch.Tensor, name: str = "region_classes") -> torch.Tensor:
    rc = torch.as_tensor(region_classes)
    if rc.ndim != 2 or rc.dtype != torch.bool:
        raise ValueError(
            f"{name} must be a bool (R, C) tensor, got shape {tuple(rc.shape)} dtype "
            f"{rc.dtype}; convert the multi-hot labels with .bool()."
        )
    if rc.shape[1] >= IGNORE:
        raise ValueError(
            f"at most {IGNORE - 1} classes fit a uint8 pseudo-label ({IGNORE} = ignore), got "
            f"C = {rc.shape[1]}."
        )
    return rc


def _check_prototypes(prototypes: torch.Tensor, valid: torch.Tensor, dim: int) -> torch.Tensor:
    valid = _check_classes(valid, "valid")
    if prototypes.ndim != 3 or tuple(prototypes.shape) != (*valid.shape, dim):
        raise ValueError(
            f"prototypes must be (R, C, D) = {(*valid.shape, dim)} to match valid and the "
            f"features, got {tuple(prototypes.shape)}; build both with region_prototypes()."
        )
    return valid


def _check_labelled(labelled: torch.Tensor | None, n_regions: int) -> torch.Tensor | None:
    if labelled is None:
        return None
    lab = torch.as_tensor(labelled)
    if lab.dtype != torch.bool or tuple(lab.shape) != (n_regions,):
        raise ValueError(
            f"labelled must be a bool ({n_regions},) tensor (one flag per region), got shape "
            f"{tuple(lab.shape)} dtype {lab.dtype}; or pass None to use 'Y_r not empty'."
        )
    return lab


# ----------------------------------------------------------------------------- helpers
def prepare_features(
    features: torch.Tensor, size: tuple[int, int], renormalize: bool = False
) -> torch.Tensor:
    """L2-normalise ``features (D, h, w)`` over D, then upsample bilinearly to ``(D, *size)``.

    ``align_corners=False``. ``renormalize=True`` normalises again after upsampling (MulActSeg's
    multi-scale VOC path); the single-scale path does not.
    """
    if features.ndim != 3 or not features.is_floating_point():
        raise ValueError(
            f"features must be a float (D, h, w) tensor, got shape {tuple(features.shape)} "
            f"dtype {features.dtype}; index the batch of the model's feature output."
        )
    f = F.normalize(features, dim=0)[None]
    f = F.interpolate(f, size=tuple(size), mode="bilinear", align_corners=False)[0]
    return F.normalize(f, dim=0) if renormalize else f


def _best_prototype(
    feat: torch.Tensor,
    prototypes: torch.Tensor,
    valid: torch.Tensor,
    owner: torch.Tensor,
    pix: torch.Tensor,
    thresholds: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For pairs (owner region r, pixel x): best class, its similarity, and the threshold test.

    ``feat (N, D)``, ``owner, pix (E,)``. Returns ``cls (E,) int64`` = argmax over c with
    ``valid[r, c]`` of ``<f(x), mu_{r,c}>`` (ties -> lowest c; -1 if r has no prototype),
    ``sim (E,)`` (-inf if none) and ``exceed (E,) bool`` = any ``<f(x), mu_{r,c}> >
    thresholds[r, c]`` (all False when ``thresholds`` is None).
    """
    n_pairs = owner.shape[0]
    sim = feat.new_full((n_pairs,), float("-inf"))
    cls = torch.full((n_pairs,), -1, dtype=torch.int64, device=feat.device)
    exceed = torch.zeros(n_pairs, dtype=torch.bool, device=feat.device)
    for c in range(valid.shape[1]):
        sel = valid[owner, c].nonzero().squeeze(1)
        for start in range(0, sel.shape[0], _CHUNK):
            e = sel[start : start + _CHUNK]
            s = (feat[pix[e]] * prototypes[owner[e], c]).sum(dim=1)
            better = s > sim[e]
            sim[e] = torch.where(better, s, sim[e])
            cls[e] = torch.where(better, c, cls[e])
            if thresholds is not None:
                exceed[e] |= s > thresholds[owner[e], c]
    return cls, sim, exceed


# ----------------------------------------------------------------------------- steps
def region_adjacency_dilated(
    region_map: torch.Tensor, n_regions: int | None = None
) -> torch.Tensor:
    """``A (R, R) bool``: ``A[r, s]`` iff s is touched by the 3x3 dilation of r's mask.

    Equivalently some pixel of s is r's pixel or one of its 8 neighbours: symmetric, with
    ``A[r, r]`` True for every region that has a pixel. Built from the id pairs of the four
    forward neighbour offsets (right, down, down-right, down-left) scattered into a flat
    ``r * R + s`` index. ``R = n_regions`` (default ``region_map.max() + 1``); id -1 is skipped.
    """
    rm = _check_region_map(region_map, n_regions)
    if n_regions is None:
        n = int(rm.max()) + 1 if rm.numel() else 0
    else:
        n = int(n_regions)
    adj = torch.zeros(n * n, dtype=torch.bool, device=rm.device)
    pairs_a = [rm.reshape(-1)]
    pairs_b = [rm.reshape(-1)]  # (r, r): the dilation contains r itself
    for a, b in (
        (rm[:, :-1], rm[:, 1:]),
        (rm[:-1, :], rm[1:, :]),
        (rm[:-1, :-1], rm[1:, 1:]),
        (rm[:-1, 1:], rm[1:, :-1]),
    ):
        pairs_a += [a.reshape(-1), b.reshape(-1)]
        pairs_b += [b.reshape(-1), a.reshape(-1)]
    ia, ib = torch.cat(pairs_a), torch.cat(pairs_b)
    ok = (ia >= 0) & (ib >= 0)
    adj[ia[ok] * n + ib[ok]] = True
    return adj.reshape(n, n)


def region_prototypes(
    features: torch.Tensor,
    probs: torch.Tensor,
    region_map: torch.Tensor,
    region_classes: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 1: ``(prototypes (R, C, D), valid (R, C) bool)``.

    ``x*_{r,c} = argmax_{x in r} p_c(x)`` (ties -> lowest flat index y * W + x) via a
    ``scatter_reduce`` amax of p then an amin of the indices attaining it;
    ``prototypes[r, c] = f(x*_{r,c})``. ``valid = Y_r[c]`` and r has a pixel; invalid entries
    are zero vectors.
    """
    rc = _check_classes(region_classes)
    n_reg, n_cls = rc.shape
    rm = _check_region_map(region_map, n_reg).to(features.device)
    _check_features(features, tuple(rm.shape))
    if probs.ndim != 3 or tuple(probs.shape) != (n_cls, *rm.shape):
        raise ValueError(
            f"probs must be (C, H, W) = {(n_cls, *rm.shape)}, got {tuple(probs.shape)}; pass "
            "one image's softmax at label resolution with as many classes as region_classes."
        )
    d = features.shape[0]
    n_pix = rm.numel()
    rid = rm.reshape(-1)
    inside = rid >= 0
    r_in = rid[inside]
    pos = torch.arange(n_pix, device=rm.device)[inside]
    p = probs.reshape(n_cls, n_pix)[:, inside]  # (C, M)
    idx = r_in[None].expand(n_cls, -1)
    best = p.new_full((n_cls, n_reg), float("-inf"))
    best = best.scatter_reduce(1, idx, p, "amax", include_self=False)
    is_best = p == best.gather(1, idx)
    cand = torch.where(is_best, pos[None], n_pix)
    arg = torch.full((n_cls, n_reg), n_pix, dtype=torch.int64, device=rm.device)
    arg = arg.scatter_reduce(1, idx, cand, "amin", include_self=True)  # (C, R)
    valid = rc.to(rm.device) & (arg < n_pix).T
    if n_pix == 0:
        return features.new_zeros((n_reg, n_cls, d)), valid
    feat = features.reshape(d, n_pix)
    protos = feat[:, arg.clamp(max=n_pix - 1).T.reshape(-1)].T  # (R * C, D)
    return protos.reshape(n_reg, n_cls, d) * valid[..., None], valid


def localize_in_regions(
    features: torch.Tensor,
    prototypes: torch.Tensor,
    valid: torch.Tensor,
    region_map: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 2: ``(labels (H, W) int64, similarity (H, W))``.

    For x in a region r with at least one prototype: ``labels = argmax_{c: valid[r, c]}
    <f(x), mu_{r,c}>`` (ties -> lowest c) and ``similarity`` = that maximum; elsewhere
    ``labels = -1`` and ``similarity = -inf``.
    """
    d = features.shape[0]
    valid = _check_prototypes(prototypes, valid, d)
    rm = _check_region_map(region_map, valid.shape[0]).to(features.device)
    _check_features(features, tuple(rm.shape))
    valid = valid.to(features.device)
    rid = rm.reshape(-1)
    has_proto = valid.any(dim=1)
    pix = ((rid >= 0) & has_proto[rid.clamp(min=0)]).nonzero().squeeze(1)
    feat = features.reshape(d, -1).T
    cls, sim, _ = _best_prototype(feat, prototypes, valid, rid[pix], pix)
    labels = torch.full_like(rid, -1)
    similarity = feat.new_full((rid.shape[0],), float("-inf"))
    labels[pix] = cls
    similarity[pix] = sim
    return labels.reshape(rm.shape), similarity.reshape(rm.shape)


def prototype_thresholds(
    labels: torch.Tensor,
    similarity: torch.Tensor,
    region_map: torch.Tensor,
    valid: torch.Tensor,
    method: str = "median",
) -> torch.Tensor:
    """Step 3: ``theta (R, C)`` over the pixels x of r with ``labels(x) = c``.

    ``"median"``: element ``(n - 1) // 2`` of the n sorted similarities (``torch.median``:
    lower middle value for even n); ``"min"``: element 0. ``theta = 1.0`` where no pixel of r
    chose c (and for every c not in Y_r). One sort by (r * C + c, similarity).
    """
    if method not in THRESHOLD_METHODS:
        raise ValueError(
            f"method must be one of {THRESHOLD_METHODS}, got {method!r}; MulActSeg uses "
            "'median' (--cosprop_threshold_method)."
        )
    valid = _check_classes(valid, "valid")
    n_reg, n_cls = valid.shape
    rm = _check_region_map(region_map, n_reg).to(similarity.device)
    if tuple(labels.shape) != tuple(rm.shape) or tuple(similarity.shape) != tuple(rm.shape):
        raise ValueError(
            f"labels and similarity must have the region map's shape {tuple(rm.shape)}, got "
            f"{tuple(labels.shape)} and {tuple(similarity.shape)}; pass localize_in_regions()."
        )
    lab = labels.reshape(-1).to(device=similarity.device, dtype=torch.int64)
    rid = rm.reshape(-1)
    keep = (lab >= 0) & (rid >= 0)
    group = rid[keep] * n_cls + lab[keep]
    vals = similarity.reshape(-1)[keep]
    theta = similarity.new_ones(n_reg * n_cls)
    if group.numel():
        by_val = torch.argsort(vals, stable=True)
        order = by_val[torch.argsort(group[by_val], stable=True)]  # by group, then value
        counts = torch.bincount(group, minlength=n_reg * n_cls)
        starts = torch.cumsum(counts, 0) - counts
        pick = starts + ((counts - 1) // 2 if method == "median" else 0)
        has = counts > 0
        theta[has] = vals[order][pick[has]]
    return theta.reshape(n_reg, n_cls)


def expand_labels(
    features: torch.Tensor,
    prototypes: torch.Tensor,
    valid: torch.Tensor,
    thresholds: torch.Tensor,
    region_map: torch.Tensor,
    local_labels: torch.Tensor,
    adjacency: torch.Tensor | None = None,
    labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """Steps 4-5: pseudo-label ``(H, W) uint8``, 255 = ignore.

    Every region r with a prototype claims every pixel x of every region s with
    ``adjacency[r, s]`` (:func:`region_adjacency_dilated`) where ``exists c in Y_r:
    <f(x), mu_{r,c}> > thresholds[r, c]``, with label ``c' = argmax_{c in Y_r} <f(x), mu_{r,c}>``;
    the highest claiming r wins (= sequential overwrite in id order). Then pixels of labelled
    regions (``labelled``, default ``valid.any(1)``) take ``local_labels`` (255 where -1).
    """
    d = features.shape[0]
    valid = _check_prototypes(prototypes, valid, d)
    n_reg, n_cls = valid.shape
    rm = _check_region_map(region_map, n_reg).to(features.device)
    _check_features(features, tuple(rm.shape))
    valid = valid.to(features.device)
    if tuple(thresholds.shape) != (n_reg, n_cls):
        raise ValueError(
            f"thresholds must be (R, C) = {(n_reg, n_cls)}, got {tuple(thresholds.shape)}; "
            "build them with prototype_thresholds()."
        )
    if tuple(local_labels.shape) != tuple(rm.shape):
        raise ValueError(
            f"local_labels must have the region map's shape {tuple(rm.shape)}, got "
            f"{tuple(local_labels.shape)}; pass the labels of localize_in_regions()."
        )
    adj = region_adjacency_dilated(rm, n_reg) if adjacency is None else adjacency.to(rm.device)
    if adj.dtype != torch.bool or tuple(adj.shape) != (n_reg, n_reg):
        raise ValueError(
            f"adjacency must be a bool (R, R) = {(n_reg, n_reg)} tensor, got shape "
            f"{tuple(adj.shape)} dtype {adj.dtype}; build it with region_adjacency_dilated()."
        )
    lab = _check_labelled(labelled, n_reg)
    lab = valid.any(dim=1) if lab is None else lab.to(rm.device)

    rid = rm.reshape(-1)
    n_pix = rid.shape[0]
    out = torch.full((n_pix,), -1, dtype=torch.int64, device=rm.device)
    inside = (rid >= 0).nonzero().squeeze(1)
    # pixels grouped by region: region s owns by_region[starts[s] : starts[s] + counts[s]]
    by_region = inside[torch.argsort(rid[inside], stable=True)]
    counts = torch.bincount(rid[inside], minlength=n_reg)
    starts = torch.cumsum(counts, 0) - counts
    pr, ps = (adj & valid.any(dim=1)[:, None]).nonzero(as_tuple=True)  # (claimer r, region s)
    n_each = counts[ps]
    owner = torch.repeat_interleave(pr, n_each)
    first = torch.repeat_interleave(starts[ps], n_each)
    offset = torch.arange(owner.shape[0], device=rm.device) - torch.repeat_interleave(
        torch.cumsum(n_each, 0) - n_each, n_each
    )
    pix = by_region[first + offset]
    feat = features.reshape(d, -1).T
    theta = thresholds.to(feat.device)
    cls, _, exceed = _best_prototype(feat, prototypes, valid, owner, pix, theta)
    key = owner[exceed] * n_cls + cls[exceed]  # the highest owner id dominates the amax
    out = out.scatter_reduce(0, pix[exceed], key, "amax", include_self=True)
    result = torch.where(out >= 0, out % n_cls, IGNORE)
    return _paste_local(result, rid, lab, local_labels).reshape(rm.shape)


def _paste_local(
    result: torch.Tensor, rid: torch.Tensor, labelled: torch.Tensor, local_labels: torch.Tensor
) -> torch.Tensor:
    """Step 5 on flat maps: pixels of labelled regions take ``local_labels`` (-1 -> 255)."""
    in_lab = (rid >= 0) & labelled[rid.clamp(min=0)]
    loc = local_labels.reshape(-1).to(device=rid.device, dtype=torch.int64)
    return torch.where(in_lab, torch.where(loc >= 0, loc, IGNORE), result).to(torch.uint8)


def pseudo_label_image(
    features: torch.Tensor,
    probs: torch.Tensor,
    region_map: torch.Tensor,
    region_classes: torch.Tensor,
    threshold: str = "median",
    expand: bool = True,
    labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stage-2 pseudo-label of one image, ``(H, W) uint8`` with 255 = ignore.

    ``features (D, H, W)`` L2-normalised, ``probs (C, H, W)`` without temperature (see the
    module docstring), ``region_map (H, W)``, ``region_classes (R, C) bool``; ``threshold`` in
    ``THRESHOLD_METHODS``; ``expand=False`` is the "wo_expand" variant (steps 1, 2, 5 only).
    """
    if threshold not in THRESHOLD_METHODS:
        raise ValueError(
            f"threshold must be one of {THRESHOLD_METHODS}, got {threshold!r}; MulActSeg uses "
            "'median'."
        )
    rc = _check_classes(region_classes).to(features.device)
    rm = _check_region_map(region_map, rc.shape[0]).to(features.device)
    lab = _check_labelled(labelled, rc.shape[0])
    protos, valid = region_prototypes(features, probs, rm, rc)
    local, sim = localize_in_regions(features, protos, valid, rm)
    if not expand:
        lab = valid.any(dim=1) if lab is None else lab.to(rm.device)
        rid = rm.reshape(-1)
        blank = torch.full_like(rid, IGNORE)
        return _paste_local(blank, rid, lab, local).reshape(rm.shape)
    theta = prototype_thresholds(local, sim, rm, valid, threshold)
    return expand_labels(features, protos, valid, theta, rm, local, labelled=lab)
