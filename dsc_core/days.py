"""The days a model reads: in one tensor on the device, or in an array on disk read by chunks.

Days are float32 ``(day, variable, y, x)`` as :meth:`dsc_core.preprocess.Preprocessor.transform`
writes them. When they fit in memory they sit in one tensor on the training device; otherwise
they stay in a Zarr array (or an h5py dataset) and batches read whole stored chunks of
consecutive days, the last few kept decoded. Training batches are runs of consecutive days
(:func:`dsc_core.training.batches`), so most of a batch's days were read by the batch before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch


def on_disk(X: Any) -> bool:
    """True for a Zarr array or an h5py dataset: days read in spans, never whole."""
    return type(X).__module__.split(".")[0] in ("zarr", "h5py")


class Days:
    """Rows of ``X`` ``(day, variable, y, x)`` as tensors on ``device``.

    ``X``: a NumPy array or tensor (moved to ``device`` once) or an on-disk array such as
    ``zarr.Array`` (read on demand; each process opens its own, file handles are not shared).
    """

    CACHED_CHUNKS = 24
    """Stored chunks (of consecutive days) kept decoded: more than the training shuffles
    together (:data:`dsc_core.training.SHUFFLE_CHUNKS`) with their neighbours, which the
    windows at their edges read."""

    def __init__(self, X: Any, device: torch.device) -> None:
        self.device = torch.device(device)
        self.shape = tuple(int(n) for n in X.shape)
        self.tensor = None if on_disk(X) else torch.as_tensor(X).to(self.device)
        self.array = X if on_disk(X) else None
        chunks = getattr(X, "chunks", None)
        self.chunk = int(chunks[0]) if chunks else 32  # days per read
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        """float32 ``(len(idx), variable, y, x)``: the days ``idx`` (any order, repeats
        allowed)."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.tensor is not None:
            return self.tensor[torch.as_tensor(idx, device=self.device)]
        out = np.empty((len(idx), *self.shape[1:]), np.float32)
        which = idx // self.chunk
        for c in np.unique(which):
            rows = which == c
            out[rows] = self._read(int(c))[idx[rows] - c * self.chunk]
        return torch.from_numpy(out).to(self.device)

    def _read(self, c: int) -> np.ndarray:
        """Days ``c·chunk`` to ``(c+1)·chunk`` (one stored chunk), from the cache if there."""
        if c in self._cache:
            self._cache.move_to_end(c)
            return self._cache[c]
        days = np.asarray(self.array[c * self.chunk : (c + 1) * self.chunk])
        self._cache[c] = days
        if len(self._cache) > self.CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return days
