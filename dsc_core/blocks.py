"""Blocks of days: what is read and held at a time when days may not fit in memory.

A dataset (time, latitude, longitude) is read in blocks when it is preprocessed and when
composites are summed (:func:`read_blocks`); days on disk (a Zarr array of float32 ``(day,
variable, y, x)``) are read in blocks by the classical methods (:func:`array_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

BLOCK_BYTES = 64 * 2**20
"""Days are read, fitted and transformed in blocks of about this many bytes (float64)."""


def time_blocks(n_days: int, day_bytes: int) -> list[slice]:
    """Consecutive slices of ``n_days`` days, each about :data:`BLOCK_BYTES` when a day
    costs ``day_bytes``: what is read and held at a time."""
    step = max(1, BLOCK_BYTES // max(day_bytes, 1))
    return [slice(a, min(a + step, n_days)) for a in range(0, n_days, step)]


def read_blocks(ds: xr.Dataset, day_bytes: int) -> list[tuple[slice, Callable[[], xr.Dataset]]]:
    """``(days, read)`` pairs over ``ds`` in blocks of days of about :data:`BLOCK_BYTES`
    (``day_bytes`` a day); ``read()`` returns the block's part of ``ds``, in memory.

    A dask-backed ``ds`` is read one dask chunk of days at a time: every variable's chunk is
    loaded once and cut into blocks (reading each block on its own would decompress the whole
    chunk again for each). Call the ``read`` functions in order.
    """
    n = ds.sizes["time"]
    lengths = next(
        (dict(zip(da.dims, da.chunks, strict=True))["time"] for da in ds.data_vars.values()
         if da.chunks is not None and "time" in da.dims),
        (n,),
    )  # fmt: skip
    loaded: dict[int, xr.Dataset] = {}

    def reader(group: slice, block: slice) -> Callable[[], xr.Dataset]:
        def read() -> xr.Dataset:
            if group.start not in loaded:
                loaded.clear()
                loaded[group.start] = ds.isel(time=group).compute()
            return loaded[group.start].isel(time=block)

        return read

    out, start = [], 0
    for length in lengths:
        group = slice(start, start + length)
        for block in time_blocks(length, day_bytes):
            days = slice(start + block.start, start + block.stop)
            out.append((days, reader(group, block)))
        start += length
    return out


def array_blocks(X: Any, at_least: int = 1) -> Iterator[np.ndarray]:
    """Days ``X`` on disk read in blocks of about :data:`BLOCK_BYTES` (float64), each at
    least ``at_least`` days (the last block absorbs a short tail)."""
    n = X.shape[0]
    blocks = time_blocks(n, 8 * int(np.prod(X.shape[1:])))
    step = max(blocks[0].stop, at_least)
    starts = list(range(0, n, step))
    if len(starts) > 1 and n - starts[-1] < at_least:
        starts.pop()
    for i, a in enumerate(starts):
        yield np.asarray(X[a : starts[i + 1] if i + 1 < len(starts) else n])
