"""The days a model reads: in one tensor on the device, or in an array on disk read by chunks;
and the window of days around each day.

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

from dsc_core.data.calendar import day_blocks
from dsc_core.errors import ConfigError, DataError


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


def check_window(window: Any) -> None:
    """ConfigError unless ``window`` is an odd integer ≥ 1: the days a window holds, centred
    on its day."""
    if not isinstance(window, int | np.integer) or window < 1 or window % 2 == 0:
        raise ConfigError(f"window must be an odd number of days >= 1, got {window!r}")


def window_indices(n_days: int, window: int, time: Any = None) -> np.ndarray:
    """int64 (day, window): indices of the ``window`` days centred on each day.

    A window never crosses an edge of the record or a gap in ``time`` (datetime64 (day,) in
    order; None: consecutive days): it is clamped there, repeating the last day on that side,
    so that on a DJF-only record 28 February never reads the next winter's 1 December.
    """
    check_window(window)
    if n_days < 1:
        raise DataError(f"no days to window (n_days={n_days}): select at least one day")
    first, last = np.zeros(n_days, np.int64), np.full(n_days, n_days - 1, np.int64)
    if time is not None:
        block = day_blocks(time)
        if len(block) != n_days:
            raise DataError(f"time has {len(block)} dates for {n_days} days: pass one per day")
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
        ends = np.r_[starts[1:], n_days] - 1
        first, last = starts[block], ends[block]
    half = window // 2
    idx = np.arange(n_days)[:, None] + np.arange(-half, half + 1)[None, :]
    return np.clip(idx, first[:, None], last[:, None]).astype(np.int64)
