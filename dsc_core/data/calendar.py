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


def year_blocks(time: Any) -> np.ndarray:
    """int64 (day,): the year each date of ``time`` belongs to, numbered from 0: its run of
    consecutive days in a season-only record (a DJF winter spans two calendar years), its
    calendar year in a record without gaps."""
    blocks = day_blocks(time)
    if blocks.size and blocks[-1] == 0:
        years = np.asarray(time, dtype="datetime64[Y]").astype(np.int64)
        blocks = years - years[0]
    return blocks


def blocks_text(time: Any) -> str:
    """How the days of ``time`` run: "consecutive", or e.g. "12 blocks of 90 days" / "3 blocks
    of 59–90 days"."""
    block = day_blocks(time)
    if block.size == 0 or block[-1] == 0:
        return "consecutive"
    sizes = np.bincount(block)
    span = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}–{sizes.max()}"
    return f"{len(sizes)} blocks of {span} days"


SEASONS: dict[str, tuple[int, ...]] = {
    "DJF": (12, 1, 2),
    "MAM": (3, 4, 5),
    "JJA": (6, 7, 8),
    "SON": (9, 10, 11),
}


def parse_months(value: Any) -> list[int] | None:
    """Months 1–12 from a season name ("DJF", "MAM", "JJA", "SON"), a comma-separated list
    ("12,1,2"), a sequence of ints, or None / "" / "all" (None: the whole year)."""
    if value is None or (
        isinstance(value, str) and value.strip().lower() in ("", "all", "all year")
    ):
        return None
    if isinstance(value, str) and value.strip().upper() in SEASONS:
        return list(SEASONS[value.strip().upper()])
    items = value.replace(" ", "").split(",") if isinstance(value, str) else value
    try:
        months = [int(v) for v in items]
    except (TypeError, ValueError):
        months = []
    if not months or any(not 1 <= m <= 12 for m in months) or len(set(months)) != len(months):
        raise DataError(
            f"months {value!r} are not a season or a list of distinct months 1–12: "
            f"use e.g. DJF or 12,1,2 (seasons: {', '.join(SEASONS)})"
        )
    return months


def months_text(months: Any) -> str:
    """ "all year", a season's name ("DJF"), or the months ("5,6"): text that
    :func:`parse_months` reads back."""
    months = parse_months(months)
    if months is None or len(months) == 12:
        return "all year"
    for name, season in SEASONS.items():
        if sorted(months) == sorted(season):
            return name
    return ",".join(str(m) for m in months)


def select_months(ds, months: Any):
    """The days of ``ds`` (an xarray object with ``time``) in ``months`` (:func:`parse_months`;
    None: all); DataError when none is left."""
    months = parse_months(months)
    if months is None:
        return ds
    keep = np.isin(ds["time"].dt.month.values, months)
    if not keep.any():
        raise DataError(
            f"no day of {months_text(months)} in the selected period: choose other months "
            "or a longer period"
        )
    return ds.isel(time=np.nonzero(keep)[0])
