"""Rows of a ``.npy`` file read on demand: a stage that visits every image once holds one
image at a time. (A memory map's touched pages stay resident, so a pass over a memory-mapped
pool grows the process's resident set with the pool.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class NpyRows:
    """Read-only rows ``array[i]`` of a C-order ``.npy`` file of shape (N, ...): ``shape``,
    ``dtype``, ``len()`` and ``rows[i]`` (int i) -> a fresh array of shape[1:], one ``pread``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)  # fmt: skip
            if read_header is None:
                raise ValueError(f"{self.path}: unsupported .npy version {version}")
            self.shape, fortran, self.dtype = read_header(f)
            self._offset = f.tell()
        if fortran or not self.shape:
            raise ValueError(f"{self.path}: expected a C-order array of shape (N, ...)")
        self._row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.path}: row {i} out of range for {len(self)} rows")
        i %= len(self)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            data = os.pread(fd, self._row_bytes, self._offset + i * self._row_bytes)
        finally:
            os.close(fd)
        return np.frombuffer(data, self.dtype).reshape(self.shape[1:])
