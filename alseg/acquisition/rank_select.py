"""Per-region nearest-rank percentile on the CPU, compiled with numba (ALGORITHMS.md §3.2).

One pass per image groups the pixels by region (a counting sort); then, per channel, the
region's values are gathered into a buffer as order-preserving unsigned keys and the key at the
wanted rank is found by a radix select inside the region (a histogram of the top key bits that
still differ, keep the bucket that holds the rank, repeat; a handful left are insertion-sorted).
Exact: the result is the value at 1-based rank ceil(percent |r| / 100) of the region's values
sorted ascending, NaN sorting last (as torch.sort), the same value for every run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_SIGN = np.uint32(0x80000000)
_BUCKET_BITS = 8  # key bits one histogram reads
_INSERTION_SORT_AT = 16  # values left in a region: sort them


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
        width = 32  # bits in which kmin and kmax differ
        while (kmax - kmin) >> np.uint32(width - 1) == 0:
            width -= 1
        shift = np.uint32(max(width - _BUCKET_BITS, 0))
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
    order = np.empty(n_pixels, np.int64)
    gathered = np.empty(n_pixels, np.float32)
    keys = gathered.view(np.uint32)
    hist = np.empty(1 << _BUCKET_BITS, np.int64)
    one = np.float32(1.0)
    for b in range(n_images):
        _order_by_region(ids[b], n_regions, starts, order)
        total = starts[n_regions]
        for c in range(n_channels):
            plane = values[b, c]
            for i in range(total):
                v = plane[order[i]]
                if fold_half:
                    w = one - v
                    v = w if w < v else v  # NaN stays NaN
                gathered[i] = v
            _to_keys(keys, total)
            for r in range(n_regions):
                lo, hi = starts[r], starts[r + 1]
                if hi == lo:
                    out[b, r, c] = np.nan
                    continue
                rank = (percent * (hi - lo) + 99) // 100 - 1
                out_bits[b, r, c] = _from_key(_rank_key(keys, lo, hi, rank, hist))
    return out
