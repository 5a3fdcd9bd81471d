"""load()/describe() on every supported input form, each written small in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cftime
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core.data import describe, load

LAT_DESC = np.array([43.0, 42.0, 41.0, 40.0])
LON = np.array([-33.0, -32.0, -31.0, -30.0, -29.0])
PACK = {"dtype": "int16", "_FillValue": -32767}


def era5_hourly(days: int = 3, new: bool = True, start: str = "2021-01-01") -> xr.Dataset:
    """Hourly ERA5 as the CDS writes it: sst (instant) and sshf (accumulated, J m-2)."""
    t = pd.date_range(start, periods=24 * days, freq="h")
    shape = (t.size, LAT_DESC.size, LON.size)
    hour = t.hour.to_numpy()[:, None, None]
    sst = np.broadcast_to(290.0 + 0.1 * hour, shape).copy()
    sst[:, 0, 0] = np.nan  # "land"
    sshf = np.full(shape, -1000.0)
    tname = "valid_time" if new else "time"
    ds = xr.Dataset(
        {
            "sst": ((tname, "latitude", "longitude"), sst, {"units": "K", "long_name": "SST"}),
            "sshf": ((tname, "latitude", "longitude"), sshf, {"units": "J m**-2"}),
        },
        coords={tname: t, "latitude": LAT_DESC, "longitude": LON},
    )
    if new:
        ds = ds.assign_coords(number=0, expver=(tname, np.full(t.size, "0001")))
    return ds


def packed(ds: xr.Dataset) -> dict:
    return {
        "sst": {**PACK, "scale_factor": 0.001, "add_offset": 290.0},
        "sshf": {**PACK, "scale_factor": 0.5, "add_offset": 0.0},
    }


@pytest.mark.parametrize("new", [True, False])
def test_era5_hourly_packed_to_daily(tmp_path, new):
    path = tmp_path / "era5.nc"
    era5_hourly(3, new).to_netcdf(path, encoding=packed(era5_hourly(3, new)))
    ds = load(path)
    assert dict(ds.sizes) == {"time": 3, "latitude": 4, "longitude": 5}
    assert list(ds.data_vars) == ["sst", "sshf", "mask"]
    assert ds.time.dtype == "datetime64[ns]"
    assert (ds.time.dt.hour == 0).all()
    assert (np.diff(ds.latitude) > 0).all()
    assert ds.sst.dtype == np.float32 and ds.sst.attrs["units"] == "K"
    assert ds.sst.attrs["long_name"] == "SST"
    assert ds.sshf.attrs["long_name"] == "Surface sensible heat flux"
    # instantaneous: daily mean of 290 + 0.1*h over h=0..23
    np.testing.assert_allclose(ds.sst.values[:, 0, 1], 290 + 0.1 * 11.5, atol=2e-3)
    # accumulated: sum over the day's 24 hourly accumulations
    np.testing.assert_allclose(ds.sshf.values[:, 1, 1], -24000.0)
    assert not ds.mask.values[-1, 0] and ds.mask.values.sum() == 19  # lat ascending → row -1
    assert ds.attrs["source"] == str(path)
    assert "number" not in ds.coords and "expver" not in ds.coords
    assert ds.sst.encoding == {}


def test_expver_dimension_first_non_nan(tmp_path):
    ds = era5_hourly(2, new=False)
    final, prelim = ds.copy(deep=True), ds.copy(deep=True) + 5.0
    final["sst"][24:] = np.nan  # ERA5 final ends after day 1; ERA5T continues
    final["sshf"][24:] = np.nan
    prelim["sst"][:24] = np.nan
    prelim["sshf"][:24] = np.nan
    both = xr.concat([final, prelim], dim=pd.Index([1, 5], name="expver"))
    both.to_netcdf(tmp_path / "x.nc")
    out = load(tmp_path / "x.nc", variables=["sst"])
    np.testing.assert_allclose(out.sst.values[:, 1, 1], [291.15, 296.15], atol=1e-3)


def test_hours_subset_accumulation_is_24_times_mean(tmp_path):
    ds = era5_hourly(3).isel(valid_time=slice(0, None, 6))  # 00, 06, 12, 18
    ds.to_netcdf(tmp_path / "h.nc")
    out = load(tmp_path / "h.nc", variables="sshf")
    assert out.sizes["time"] == 3
    np.testing.assert_allclose(out.sshf.values[:, 2, 2], -24000.0)
    assert "sum" in out.sshf.attrs["cell_methods"]


def cf_daily(calendar: str = "standard", n: int = 40, lon360: bool = True) -> xr.Dataset:
    dates = xr.date_range("2001-02-15", periods=n, freq="D", calendar=calendar, use_cftime=True)
    lon = np.array([0.0, 90.0, 180.0, 270.0, 350.0]) if lon360 else LON
    lat = np.array([-10.0, 0.0, 10.0])
    rng = np.random.default_rng(0)
    shape = (n, lat.size, lon.size)
    tas = xr.DataArray(
        280 + rng.normal(size=shape),
        dims=("time", "lat", "lon"),
        attrs={"standard_name": "air_temperature", "units": "K"},
    )
    hfss = xr.DataArray(np.full(shape, 20.0), dims=("time", "lat", "lon"), attrs={"units": "W m-2"})
    slp = xr.DataArray(
        np.full(shape, 101000.0),
        dims=("time", "lat", "lon"),
        attrs={"standard_name": "air_pressure_at_mean_sea_level", "units": "Pa"},
    )
    wind = xr.DataArray(
        np.ones(shape),
        dims=("time", "lat", "lon"),
        attrs={"standard_name": "eastward_wind", "units": "m s-1"},
    )
    other = xr.DataArray(np.ones(shape), dims=("time", "lat", "lon"), attrs={"units": "1"})
    ds = xr.Dataset(
        {"tas": tas, "hfss": hfss, "slp": slp, "uwind": wind, "foo": other},
        coords={"time": dates, "lat": lat, "lon": lon},
    )
    ds["uwind"] = ds["uwind"].assign_coords(height=xr.DataArray(10.0, attrs={"units": "m"}))
    return ds


def test_cf_names_netcdf3_lon360(tmp_path):
    path = tmp_path / "cf.nc"
    cf_daily().to_netcdf(path, format="NETCDF3_CLASSIC")
    ds = load(path)
    assert set(ds.data_vars) == {"t2m", "sshf", "msl", "u10", "foo", "mask"}
    np.testing.assert_array_equal(ds.longitude, [-180.0, -90.0, -10.0, 0.0, 90.0])
    np.testing.assert_allclose(ds.sshf.values, -20.0)  # upward CMIP flux → ERA5 sign
    assert "sign flipped" in ds.sshf.attrs["comment"]
    assert ds.sshf.attrs["units"] == "W m-2"
    # the user may pick by the file's names too
    assert list(load(path, variables=["hfss", "foo"]).data_vars) == ["sshf", "foo", "mask"]


def test_noleap_calendar(tmp_path):
    path = tmp_path / "noleap.nc"
    cf_daily("noleap", n=365).to_netcdf(path)
    ds = load(path, variables="tas", end="2001-12-31")
    assert ds.sizes["time"] == 320 and str(ds.time.values[0])[:10] == "2001-02-15"
    assert describe(path)["calendar"] == "noleap"


def test_360_day_calendar_drops_impossible_dates(tmp_path):
    path = tmp_path / "d360.nc"
    cf_daily("360_day", n=20).to_netcdf(path)  # 2001-02-15 .. 2001-03-05 (360-day)
    ds = load(path, variables="tas")
    days = pd.DatetimeIndex(ds.time.values)
    assert len(days) == 18  # Feb 29 and Feb 30 do not exist in 2001
    assert days[13] == pd.Timestamp("2001-02-28") and days[14] == pd.Timestamp("2001-03-01")


def test_missing_days_are_not_invented(tmp_path):
    ds = cf_daily(n=10).isel(time=[0, 1, 2, 5, 6, 9])
    ds.to_netcdf(tmp_path / "gaps.nc")
    out = load(tmp_path / "gaps.nc", variables="tas")
    assert out.sizes["time"] == 6


def test_fill_value_without_attribute(tmp_path):
    ds = cf_daily(n=6, lon360=False)
    ds["tas"][:, 1, 2] = 1e20
    ds["tas"].encoding = {"_FillValue": None}
    ds.to_netcdf(tmp_path / "fill.nc", encoding={"tas": {"_FillValue": None}})
    out = load(tmp_path / "fill.nc", variables="tas")
    assert np.isnan(out.t2m.values[:, 1, 2]).all()
    assert not out.mask.values[1, 2] and out.mask.values.sum() == 14


def levels(n_levels: int) -> xr.Dataset:
    ds = cf_daily(n=4, lon360=False)[["tas"]]
    lev = [850.0, 500.0, 250.0][:n_levels]
    t = ds["tas"].expand_dims(plev=lev, axis=1).copy()
    t.values[:, :, ...] += np.array(lev)[None, :, None, None]
    return xr.Dataset({"ta": t.assign_attrs(units="K")})


def test_levels(tmp_path):
    levels(1).to_netcdf(tmp_path / "one.nc")
    assert load(tmp_path / "one.nc").ta.dims == ("time", "latitude", "longitude")
    assert load(tmp_path / "one.nc", level=850).ta.dims == ("time", "latitude", "longitude")
    with pytest.raises(Exception, match=r"level 500 not in .* has only 850"):
        load(tmp_path / "one.nc", level=500)  # one level, but not the one asked for
    levels(3).to_netcdf(tmp_path / "three.nc")
    with pytest.raises(Exception, match=r"3 levels on 'plev' \(850.0, 500.0, 250.0\)"):
        load(tmp_path / "three.nc")
    ds = load(tmp_path / "three.nc", level=500)
    assert float(ds.ta.mean()) > 700
    with pytest.raises(Exception, match="level 700 not in"):
        load(tmp_path / "three.nc", level=700)
    assert describe(tmp_path / "three.nc")["levels"] == {"plev": [850.0, 500.0, 250.0]}


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr(tmp_path, fmt):
    store = tmp_path / f"d{fmt}.zarr"
    era5_hourly(2).drop_vars("expver").to_zarr(store, zarr_format=fmt, consolidated=fmt == 2)
    ds = load(store)
    assert ds.sizes["time"] == 2 and ds.sshf.values[0, 1, 1] == -24000.0


def test_multi_file_list_glob_folder(tmp_path):
    whole = era5_hourly(4)
    for i in range(4):
        whole.isel(valid_time=slice(24 * i, 24 * (i + 1))).to_netcdf(tmp_path / f"d{i}.nc")
    files = sorted(tmp_path.glob("*.nc"))
    for source in (files, str(tmp_path / "d*.nc"), tmp_path):
        ds = load(source, start="2021-01-02", end="2021-01-03")
        assert list(ds.time.dt.day.values) == [2, 3]
        np.testing.assert_allclose(ds.sshf.values[:, 2, 2], -24000.0)
    assert describe(tmp_path)["files"] == 4


def test_variables_split_across_files(tmp_path):
    ds = era5_hourly(2)
    ds[["sst"]].to_netcdf(tmp_path / "instant.nc")
    ds[["sshf"]].to_netcdf(tmp_path / "accum.nc")
    out = load(tmp_path)
    assert set(out.data_vars) == {"sst", "sshf", "mask"}


def test_selection_bbox_and_dates(tmp_path):
    era5_hourly(3).to_netcdf(tmp_path / "e.nc")
    ds = load(tmp_path / "e.nc", "sst", "2021-01-02", "2021-01-02", (41.0, 42.0, -32.0, -30.0))
    assert dict(ds.sizes) == {"time": 1, "latitude": 2, "longitude": 3}
    ds = load(tmp_path / "e.nc", bbox=(41.0, 42.0, 328.0, 330.0))  # 0-360 box
    np.testing.assert_array_equal(ds.longitude, [-32.0, -31.0, -30.0])


def test_dataset_source_and_dask_for_big_results(tmp_path, monkeypatch):
    import dsc_core.data as data

    era5_hourly(2).to_netcdf(tmp_path / "e.nc")
    monkeypatch.setattr(data, "IN_MEMORY_BYTES", 0)
    ds = load(tmp_path / "e.nc")
    assert ds.sst.chunks is not None and ds.mask.dtype == bool
    assert load(era5_hourly(2)).sizes["time"] == 2


def test_grib(tmp_path):
    eccodes = pytest.importorskip("eccodes")
    pytest.importorskip("cfgrib")
    path = tmp_path / "t.grib"
    with open(path, "wb") as fh:
        for day in range(3):
            for short, base in (("2t", 280.0), ("sp", 101000.0)):
                h = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
                for key, value in (("Ni", 6), ("Nj", 5), ("dataDate", 20210101 + day)):
                    eccodes.codes_set_long(h, key, value)
                for key, value in (
                    ("latitudeOfFirstGridPointInDegrees", 43.0),
                    ("latitudeOfLastGridPointInDegrees", 39.0),
                    ("longitudeOfFirstGridPointInDegrees", 330.0),
                    ("longitudeOfLastGridPointInDegrees", 335.0),
                    ("iDirectionIncrementInDegrees", 1.0),
                    ("jDirectionIncrementInDegrees", 1.0),
                ):
                    eccodes.codes_set(h, key, value)
                eccodes.codes_set(h, "shortName", short)
                eccodes.codes_set_values(h, base + np.arange(30.0) + day)
                eccodes.codes_write(h, fh)
                eccodes.codes_release(h)
    ds = load(path)
    assert set(ds.data_vars) == {"t2m", "sp", "mask"}
    assert dict(ds.sizes) == {"time": 3, "latitude": 5, "longitude": 6}
    assert ds.longitude.values[0] == -30.0 and ds.latitude.values[0] == 39.0
    assert ds.t2m.values[0, -1, 0] == 280.0
    assert not list(tmp_path.glob("*.idx"))


def open_files() -> set[str]:
    """Paths this process holds open (Linux)."""
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fds / fd) for fd in os.listdir(fds)}


def test_describe_reads_metadata_only_and_closes_the_files(tmp_path):
    store = tmp_path / "e.zarr"
    era5_hourly(5).drop_vars("expver").to_zarr(store, zarr_format=3, consolidated=False)
    chunks = [p for v in ("sst", "sshf") for p in (store / v).rglob("*") if p.is_file()]
    chunks = [p for p in chunks if p.name != "zarr.json"]
    assert chunks
    for chunk in chunks:  # the data values are unreadable, the coordinates are intact
        chunk.write_bytes(b"not a compressed chunk")
    info = describe(store)
    assert info["variables"] == {"sst": "SST", "sshf": "Surface sensible heat flux"}
    assert (info["start"], info["end"], info["n_days"]) == ("2021-01-01", "2021-01-05", 5)
    assert info["shape"] == (4, 5) and info["synthetic"] is False
    assert info["time_step"] == "1h"
    with pytest.raises(Exception):  # noqa: B017  (whatever the codec raises on garbage)
        load(store)
    if Path("/proc/self/fd").is_dir():
        era5_hourly(2).to_netcdf(tmp_path / "e.nc")
        assert describe(tmp_path / "e.nc")["n_days"] == 2
        assert str(tmp_path / "e.nc") not in open_files()


def test_sample_source():
    import dsc_core

    assert callable(dsc_core.sample)
    ds = load(
        "sample",
        variables=["sst", "sp"],
        start="2021-03-01",
        end="2021-03-31",
        bbox=(35, 40, -30, -25),
    )
    assert ds.attrs["synthetic"] == 1 and "regime" in ds.coords
    assert ds.sizes["time"] == 31 and list(ds.data_vars) == ["sst", "sp", "mask"]
    assert ds.attrs["source"] == "sample"
    info = describe("sample")
    assert info["synthetic"] is True and info["n_days"] == 365 and info["shape"] == (41, 41)


def test_roundtrip_of_load_output(tmp_path):
    from dsc_core.data.io import write_netcdf

    era5_hourly(3).to_netcdf(tmp_path / "e.nc", encoding=packed(era5_hourly(3)))
    ds = load(tmp_path / "e.nc")
    write_netcdf(ds, tmp_path / "daily.nc")
    again = load(tmp_path / "daily.nc")
    xr.testing.assert_allclose(ds.drop_attrs(), again.drop_attrs())
    assert cftime  # calendars above use cftime


def test_dask_blocks_give_the_same_days(tmp_path, monkeypatch):
    from dsc_core.data import io

    ds = era5_hourly(5)
    ds["sst"][30:40, 2, 2] = np.nan  # an irregular gap inside day 2
    ds = ds.drop_isel(valid_time=[50, 51, 52])  # and missing hours on day 3
    ds.to_netcdf(tmp_path / "e.nc")
    ref = load(tmp_path / "e.nc")
    monkeypatch.setattr(io, "CHUNKS", {"valid_time": 7})
    lazy = load(tmp_path / "e.nc")
    xr.testing.assert_allclose(ref, lazy)
    gap = ref.sst.sel(latitude=41.0, longitude=-31.0).values[1]
    np.testing.assert_allclose(gap, 290 + 0.1 * np.mean(np.r_[0:6, 16:24]))
    np.testing.assert_allclose(ref.sshf.values[1:4, 1, 1], -24000.0)


def test_static_field_in_time_split_files(tmp_path):
    whole = era5_hourly(2)
    for i in range(2):
        part = whole.isel(valid_time=slice(24 * i, 24 * (i + 1)))
        part["lsm"] = (("latitude", "longitude"), np.ones((4, 5)))
        part.to_netcdf(tmp_path / f"d{i}.nc")
    ds = load(tmp_path)
    assert set(ds.data_vars) == {"sst", "sshf", "mask"} and ds.sizes["time"] == 2


@pytest.mark.parametrize("calendar, n_days", [("all_leap", 39), ("julian", 40), ("365_day", 40)])
def test_other_calendars_keep_date_labels(tmp_path, calendar, n_days):
    cf_daily(calendar, n=40).to_netcdf(tmp_path / "c.nc")
    ds = load(tmp_path / "c.nc", variables="tas")
    assert ds.sizes["time"] == n_days and str(ds.time.values[0])[:10] == "2001-02-15"


def test_metadata_then_loading_the_same_cds_files_twice_does_not_crash(tmp_path):
    """Metadata (what describe() reads) once kept data variables backed by closed files, and
    two later loads of the same CDS-layout files crashed netCDF4 (segmentation fault) while it
    was alive: run in a child process so that a crash fails the test instead of the suite."""
    from dsc_core.data import era5
    from tests.data.test_era5 import cds_hourly_pl

    requests = era5.build_requests(2021, ["z"], (40, 42, -30, -28), [0, 6, 12, 18], [500, 850])
    for label, _, request in requests[:2]:
        cds_hourly_pl(request).drop_vars("number", errors="ignore").to_netcdf(
            tmp_path / f"{label}.nc"
        )
    script = (  # the metadata kept alive, as a reference cycle can keep it until a collection
        "import sys; from pathlib import Path; from dsc_core.data import load\n"
        "from dsc_core.data.io import open_metadata\n"
        "files = sorted(sys.argv[1:])\n"
        "meta = open_metadata([Path(f) for f in files])\n"
        "a = load(files, level=500); b = load(files, level=850)\n"
        "print(dict(meta.sizes), float(a['z'].mean()) != float(b['z'].mean()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, tmp_path.glob("*.nc"))],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("True")
