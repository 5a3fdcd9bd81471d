"""The days a model reads: in one tensor on the device, or in an array on disk read in spans.

Days are float32 ``(day, variable, y, x)`` as :meth:`dsc_core.preprocess.Preprocessor.transform`
writes them. When they fit in memory they sit in one tensor on the training device; otherwise
they stay in a Zarr array (or any array that slices along its first axis: h5py, memmap) and each
batch reads the runs of consecutive days it needs. Training batches are runs of consecutive days
(:func:`dsc_core.training.batches`), so a batch costs a few contiguous reads.
"""

from __future__ import annotations

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

    def __init__(self, X: Any, device: torch.device) -> None:
        self.device = torch.device(device)
        self.shape = tuple(int(n) for n in X.shape)
        self.tensor = None if on_disk(X) else torch.as_tensor(X).to(self.device)
        self.array = X if on_disk(X) else None

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        """float32 ``(len(idx), variable, y, x)``: the days ``idx`` (any order, repeats
        allowed)."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.tensor is not None:
            return self.tensor[torch.as_tensor(idx, device=self.device)]
        need = np.unique(idx)
        starts = np.flatnonzero(np.r_[True, np.diff(need) > 1])
        ends = np.r_[starts[1:], len(need)]
        spans = [
            np.asarray(self.array[need[a] : need[b - 1] + 1])
            for a, b in zip(starts, ends, strict=True)
        ]
        read = np.concatenate(spans) if len(spans) > 1 else spans[0]
        return torch.from_numpy(read[np.searchsorted(need, idx)]).to(self.device)
