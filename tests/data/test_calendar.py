"""Seasons and months: parsing, naming, selecting days."""

import numpy as np
import pytest
import xarray as xr

from dsc_core.data.calendar import months_text, parse_months, select_months
from dsc_core.errors import DataError


@pytest.mark.parametrize(
    ("value", "months"),
    [("DJF", [12, 1, 2]), ("jja", [6, 7, 8]), ("12,1,2", [12, 1, 2]), ([5, 6], [5, 6]),
     (None, None), ("", None), ("all", None), ("all year", None)],
)  # fmt: skip
def test_parse_months(value, months):
    assert parse_months(value) == months


@pytest.mark.parametrize("value", ["13", "0,1", "1,1", "winter", [], "x,y"])
def test_bad_months_name_the_fix(value):
    with pytest.raises(DataError, match="use e.g. DJF or 12,1,2"):
        parse_months(value)


def test_months_text_reads_back():
    assert months_text([1, 2, 12]) == "DJF" and months_text(None) == "all year"
    assert months_text(list(range(1, 13))) == "all year"
    assert parse_months(months_text([5, 9])) == [5, 9]


def test_select_months_keeps_the_days_of_the_season_only():
    time = np.arange("2020-11-15", "2021-03-15", dtype="datetime64[D]")
    ds = xr.Dataset({"x": ("time", np.arange(len(time)))}, coords={"time": time})
    djf = select_months(ds, "DJF")
    assert set(djf["time"].dt.month.values) == {12, 1, 2} and djf.sizes["time"] == 31 + 31 + 28
    with pytest.raises(DataError, match="no day of JJA"):
        select_months(ds, "JJA")
