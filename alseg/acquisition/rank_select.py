"""Per-region nearest-rank percentile on the CPU, compiled with numba (ALGORITHMS.md §3.2).

Per image, a counting sort groups the pixels by region. Per channel, one sequential pass turns
the plane into order-preserving unsigned keys (OREAL's fold min(v, 1 - v) included). Per region
the wanted key lies near the top (rank ceil(0.95 n) of n: the ``above`` = n - rank + 1 largest
hold it), so the region is not read whole into the select:

1. a sample (every 8th of the region's pixels) gives a floor key, the sample's key at the rank
   that leaves about twice the sample's share of ``above`` keys at or above it;
2. one gather keeps the region's keys at or above the floor (about 2 ``above`` of them);
3. a radix select among the kept ones finds the ``above``-th largest (a histogram of the top
   key bits that still differ, keep the bucket that holds the rank, repeat; a handful left are
   insertion-sorted).

A floor that keeps fewer than ``above`` keys (an unlucky sample) is dropped and the region is
read whole, so the result never depends on the sample: it is the value at 1-based rank
ceil(percent n / 100) of the region's values sorted ascending, NaN sorting last (as torch.sort).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros

_SIGN = np.uint32(0x80000000)
_BUCKET_BITS = 8  # the most key bits one histogram reads
_INSERTION_SORT_AT = 16  # values left in a region: sort them
_SAMPLE_STRIDE = 8  # the floor's sample: every 8th pixel of a region
_SAMPLE_FROM = 128  # smaller regions are read whole
_KEEP_ALL = np.uint32(0)  # the smallest key: a floor that keeps every key


@njit(cache=True, nogil=True)
def _order_by_region(ids: np.ndarray, n_regions: int, starts: np.ndarray,
                     order: np.ndarray) -> None:  # fmt: skip
    """Counting sort of pixel indices by region id (ids (P,), n_regions = no region): region r's
    pixels are order[starts[r]:starts[r + 1]], ascending."""
    starts[:] = 0
    for i in range(ids.shape[0]):
        if ids[i] < n_regions:
            starts[ids[i] + 1] += 1
    for r in range(n_regions):
        starts[r + 1] += starts[r]
    fill = starts[:n_regions].copy()
    for i in range(ids.shape[0]):
        r = ids[i]
        if r < n_regions:
            order[fill[r]] = i
            fill[r] += 1


@njit(cache=True, nogil=True)
def _to_keys(keys: np.ndarray, n: int) -> None:
    """float32 bits (viewed as uint32) -> keys in the floats' order, in place, branch-free:
    sign bit flipped for values >= 0, every bit for values < 0; NaN -> the largest key."""
    zero = np.uint32(0)
    for i in range(n):
        bits = keys[i]
        flip = (zero - (bits >> np.uint32(31))) | _SIGN
        is_nan = np.uint32((bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000))
        keys[i] = (bits ^ flip) | (zero - is_nan)


@njit(cache=True, nogil=True)
def _from_key(key: np.uint32) -> np.uint32:
    """The float32 bits of a key of ``_to_keys`` (the NaN key gives a NaN)."""
    return key ^ _SIGN if key & _SIGN else ~key


@njit(cache=True, nogil=True)
def _plane_keys(plane: np.ndarray, fold_half: bool, out: np.ndarray) -> None:
    """out (P,) float32, read as uint32 afterwards = the keys of plane (P,) (any stride), or of
    min(v, 1 - v) with ``fold_half`` (NaN stays NaN)."""
    one = np.float32(1.0)
    for i in range(plane.shape[0]):
        v = plane[i]
        if fold_half:
            w = one - v
            v = w if w < v else v
        out[i] = v
    _to_keys(out.view(np.uint32), plane.shape[0])


@njit(cache=True, nogil=True)
def _gather_at_least(keys: np.ndarray, order: np.ndarray, lo: int, hi: int, step: int,
                     floor: np.uint32, out: np.ndarray) -> int:  # fmt: skip
    """Copy keys[order[lo:hi:step]] that are >= floor to the front of out (branch-free: every
    key is written, the count moves on only for kept ones); returns the count."""
    kept = 0
    for i in range(lo, hi, step):
        key = keys[order[i]]
        out[kept] = key
        kept += key >= floor
    return kept


@njit(cache=True, nogil=True)
def _rank_key(keys: np.ndarray, lo: int, hi: int, rank: int, hist: np.ndarray) -> np.uint32:
    """Key at 0-based ``rank`` of keys[lo:hi] sorted ascending; reorders keys[lo:hi]."""
    kmin, kmax = keys[lo], keys[lo]
    for i in range(lo + 1, hi):
        kmin = min(kmin, keys[i])
        kmax = max(kmax, keys[i])
    while kmin != kmax:
        if hi - lo <= _INSERTION_SORT_AT:
            for i in range(lo + 1, hi):
                key, j = keys[i], i - 1
                while j >= lo and keys[j] > key:
                    keys[j + 1] = keys[j]
                    j -= 1
                keys[j + 1] = key
            return keys[lo + rank]
        width = 32 - int(leading_zeros(np.uint32(kmax - kmin)))  # bits where kmin, kmax differ
        bits = min(max(63 - int(leading_zeros(np.uint64(hi - lo))), 2), _BUCKET_BITS)  # log2 n
        shift = np.uint32(max(width - bits, 0))
        n_buckets = ((kmax - kmin) >> shift) + 1
        hist[:n_buckets] = 0
        for i in range(lo, hi):
            hist[(keys[i] - kmin) >> shift] += 1
        below, chosen = hi - lo, n_buckets - 1  # the rank lies near the top: scan down
        while True:
            below -= hist[chosen]
            if below <= rank:
                break
            chosen -= 1
        rank -= below
        bucket, kept = np.uint32(chosen), lo
        for i in range(lo, hi):  # keep the chosen bucket's keys (few: a predictable branch)
            key = keys[i]
            if (key - kmin) >> shift == bucket:
                keys[kept] = key
                kept += 1
        hi = kept
        kmin = kmin + (bucket << shift)
        kmax = min(kmax, kmin + ((np.uint32(1) << shift) - np.uint32(1)))
    return kmin


@njit(cache=True, nogil=True)
def _sample_floor(keys: np.ndarray, order: np.ndarray, lo: int, hi: int, above: int,
                  sample: np.ndarray, hist: np.ndarray) -> np.uint32:  # fmt: skip
    """A floor key for region order[lo:hi] of keys: of the sample keys[order[lo:hi:8]] (m of
    them), the one with 2 floor(above m / n) + 3 sample keys at or above it (all m if fewer)."""
    m = _gather_at_least(keys, order, lo, hi, _SAMPLE_STRIDE, _KEEP_ALL, sample)
    wanted = min(m, 2 * ((above * m) // (hi - lo)) + 3)
    return _rank_key(sample, 0, m, m - wanted, hist)


@njit(cache=True, nogil=True)
def region_percentile(values: np.ndarray, ids: np.ndarray, n_regions: int, percent: int,
                      fold_half: bool) -> np.ndarray:  # fmt: skip
    """Nearest-rank percentile per (image, region, channel): values (B, K, P) float32 (any
    strides), ids (B, P) int64 in [0, n_regions] (n_regions: no region) -> (B, n_regions, K)
    float32, NaN for a region without pixels. The value at 1-based rank ceil(percent n / 100)
    of the region's n values sorted ascending, in integers (percent n + 99) // 100.
    ``fold_half``: read min(v, 1 - v) (float32) instead of v."""
    n_images, n_channels, n_pixels = values.shape
    out = np.empty((n_images, n_regions, n_channels), np.float32)
    out_bits = out.view(np.uint32)
    starts = np.empty(n_regions + 1, np.int64)
    order = np.empty(n_pixels, np.int32)
    plane_floats = np.empty(n_pixels, np.float32)
    plane_keys = plane_floats.view(np.uint32)
    kept_keys = np.empty(n_pixels, np.uint32)
    sample = np.empty(n_pixels // _SAMPLE_STRIDE + 1, np.uint32)
    hist = np.empty(1 << _BUCKET_BITS, np.int64)
    for b in range(n_images):
        _order_by_region(ids[b], n_regions, starts, order)
        for c in range(n_channels):
            _plane_keys(values[b, c], fold_half, plane_floats)
            for r in range(n_regions):
                lo, hi = starts[r], starts[r + 1]
                if hi == lo:
                    out[b, r, c] = np.nan
                    continue
                above = hi - lo - ((percent * (hi - lo) + 99) // 100 - 1)  # keys >= the wanted
                floor = _KEEP_ALL
                if hi - lo >= _SAMPLE_FROM:
                    floor = _sample_floor(plane_keys, order, lo, hi, above, sample, hist)
                kept = _gather_at_least(plane_keys, order, lo, hi, 1, floor, kept_keys)
                if kept < above:  # the floor was too high: read the region whole
                    kept = _gather_at_least(plane_keys, order, lo, hi, 1, _KEEP_ALL, kept_keys)
                out_bits[b, r, c] = _from_key(_rank_key(kept_keys, 0, kept, kept - above, hist))
    return out
