"""Runs of consecutive days: records with gaps (DJF-only winters, missing months)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dsc_core.errors import DataError


def day_blocks(time: Any) -> np.ndarray:
    """int64 (day,): the index of the run of consecutive days each date of ``time`` is in
    (a new run starts wherever the step from the previous date is not one day)."""
    days = np.asarray(time, dtype="datetime64[D]")
    if days.ndim != 1:
        raise DataError(f"time must be one date per day, got shape {days.shape}")
    if days.size == 0:
        return np.zeros(0, np.int64)
    steps = np.diff(days) != np.timedelta64(1, "D")
    return np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)


def blocks_text(time: Any) -> str:
    """How the days of ``time`` run: "consecutive", or e.g. "12 blocks of 90 days" / "3 blocks
    of 59–90 days"."""
    block = day_blocks(time)
    if block.size == 0 or block[-1] == 0:
        return "consecutive"
    sizes = np.bincount(block)
    span = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}–{sizes.max()}"
    return f"{len(sizes)} blocks of {span} days"
