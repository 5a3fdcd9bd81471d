"""Bad input: every failure is a DSCError subclass with a one-line message naming the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core.data import describe, io, load
from dsc_core.errors import ConfigError, DataError, DependencyError


def daily(n: int = 5, lat=(40.0, 41.0), lon=(-30.0, -29.0), start="2021-01-01") -> xr.Dataset:
    t = pd.date_range(start, periods=n, freq="D")
    data = np.ones((n, len(lat), len(lon)))
    return xr.Dataset(
        {"sst": (("time", "latitude", "longitude"), 290 * data, {"units": "K"})},
        coords={"time": t, "latitude": list(lat), "longitude": list(lon)},
    )


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and len(text) < 400
    return text


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist; check the path") as err:
        load(tmp_path / "nope.nc")
    one_line(err)
    with pytest.raises(DataError, match="no files match"):
        load(str(tmp_path / "*.nc"))
    with pytest.raises(DataError, match="holds no data files"):
        load(tmp_path)


def test_not_a_data_file(tmp_path):
    (tmp_path / "notes.nc").write_text("hello, this is text\n")
    with pytest.raises(DataError, match="not a NetCDF, Zarr or GRIB file") as err:
        load(tmp_path / "notes.nc")
    one_line(err)


def test_format_not_installed(tmp_path, monkeypatch):
    (tmp_path / "x.grib").write_bytes(b"GRIB" + b"\0" * 40)
    monkeypatch.setattr(io, "find_spec", lambda name: None)
    with pytest.raises(DependencyError, match=r"pip install 'dsc-explorer\[grib\]'") as err:
        load(tmp_path / "x.grib")
    one_line(err)
    daily().to_netcdf(tmp_path / "x.nc")
    with pytest.raises(DependencyError, match="pip install netCDF4"):
        load(tmp_path / "x.nc")


def test_corrupt_file(tmp_path):
    (tmp_path / "bad.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(DataError, match="cannot read 'bad.nc'") as err:
        load(tmp_path / "bad.nc")
    one_line(err)


def test_no_time_axis(tmp_path):
    daily().isel(time=0, drop=True).to_netcdf(tmp_path / "t.nc")
    with pytest.raises(DataError, match="no time axis") as err:
        load(tmp_path / "t.nc")
    one_line(err)


def test_no_lat_lon(tmp_path):
    ds = daily().rename({"latitude": "y", "longitude": "x"}).drop_vars(["y", "x"])
    ds.to_netcdf(tmp_path / "t.nc")
    with pytest.raises(DataError, match="no latitude and longitude coordinate") as err:
        load(tmp_path / "t.nc")
    one_line(err)


def test_curvilinear_grid(tmp_path):
    ds = daily().rename({"latitude": "y", "longitude": "x"}).drop_vars(["y", "x"])
    ds = ds.assign_coords(lat=(("y", "x"), np.ones((2, 2))), lon=(("y", "x"), np.ones((2, 2))))
    with pytest.raises(DataError, match="curvilinear grid"):
        load(ds)


def test_unknown_variable_lists_available(tmp_path):
    daily().to_netcdf(tmp_path / "t.nc")
    with pytest.raises(DataError, match="unknown variable 'tp'.*available: sst") as err:
        load(tmp_path / "t.nc", variables=["sst", "tp"])
    one_line(err)


def test_no_gridded_variable():
    ds = daily().assign(station=("time", np.arange(5.0))).drop_vars("sst")
    with pytest.raises(DataError, match=r"no variable on \(time, latitude, longitude\)"):
        load(ds)


def test_date_range_outside_the_data(tmp_path):
    daily().to_netcdf(tmp_path / "t.nc")
    msg = "no data between 2022-01-01 and 2022-02-01 .* covers 2021-01-01 to 2021-01-05"
    with pytest.raises(DataError, match=msg) as err:
        load(tmp_path / "t.nc", start="2022-01-01", end="2022-02-01")
    one_line(err)
    with pytest.raises(DataError, match="no data between"):
        load(tmp_path / "t.nc", start="2021-01-04", end="2021-01-02")
    with pytest.raises(ConfigError, match="not a date"):
        load(tmp_path / "t.nc", start="January")


def test_bbox_errors(tmp_path):
    daily().to_netcdf(tmp_path / "t.nc")
    with pytest.raises(DataError, match="selects no grid point .* latitude 40..41") as err:
        load(tmp_path / "t.nc", bbox=(0, 10, 0, 10))
    one_line(err)
    with pytest.raises(ConfigError, match="lat_min, lat_max, lon_min, lon_max"):
        load(tmp_path / "t.nc", bbox=(41, 40, -30, -29))
    with pytest.raises(ConfigError, match="not 4 numbers"):
        load(tmp_path / "t.nc", bbox=(41, 40))


def test_all_nan_variable(tmp_path):
    ds = daily()
    ds["t2m"] = ds["sst"] * np.nan
    ds.to_netcdf(tmp_path / "t.nc")
    with pytest.raises(DataError, match="variable 't2m' has no valid value") as err:
        load(tmp_path / "t.nc")
    one_line(err)
    assert set(load(tmp_path / "t.nc", variables="sst").data_vars) == {"sst", "mask"}


def test_no_cell_valid_for_all_variables():
    ds = daily()
    ds["t2m"] = ds["sst"].copy()
    ds["sst"][:, 0, :] = np.nan
    ds["t2m"][:, 1, :] = np.nan
    with pytest.raises(DataError, match="no grid cell"):
        load(ds)


def test_grids_differ_between_files(tmp_path):
    daily().to_netcdf(tmp_path / "a.nc")
    daily(start="2021-01-06", lat=(40.0, 40.5)).to_netcdf(tmp_path / "b.nc")
    with pytest.raises(DataError, match="grids differ between files: 'a.nc' .* 'b.nc'") as err:
        load(tmp_path)
    one_line(err)


def test_extra_dimension(tmp_path):
    ds = daily()
    ds["sst"] = ds["sst"].expand_dims(number=3)
    with pytest.raises(DataError, match="extra dimension 'number' \\(3 values\\)"):
        load(ds)


def test_level_given_without_levels(tmp_path):
    with pytest.raises(DataError, match="no vertical level dimension"):
        load(daily(), level=850)


def test_zip_and_folder_messages(tmp_path):
    import zipfile

    daily().to_netcdf(tmp_path / "a.nc")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        zf.write(tmp_path / "a.nc", "a.nc")
    with pytest.raises(DataError, match="zip archive; unzip it"):
        load(tmp_path / "d.zip")
    (tmp_path / "readme.txt").write_text("text")
    with pytest.raises(DataError, match="'readme.txt' is not a NetCDF"):
        describe([tmp_path / "a.nc", tmp_path / "readme.txt"])
