"""ERA5 retrieval without network: the request, credential errors, post-processing."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import dsc_core.data as dsc_data
from dsc_core.data import describe, era5, load
from dsc_core.errors import ConfigError, DataError, DependencyError, RetrievalError


def test_build_request():
    name, req = era5.build_request([2021], ["sst", "t2m", "sshf"], (33, 43, -33, -23))
    assert name == "reanalysis-era5-single-levels"
    assert req["product_type"] == ["reanalysis"]
    assert req["variable"] == [
        "sea_surface_temperature",
        "2m_temperature",
        "surface_sensible_heat_flux",
    ]
    assert req["year"] == ["2021"] and len(req["month"]) == 12 and len(req["day"]) == 31
    assert req["time"][0] == "00:00" and len(req["time"]) == 24
    assert req["area"] == [43.0, -33.0, 33.0, -23.0]  # N, W, S, E
    assert req["data_format"] == "netcdf" and req["download_format"] == "unarchived"
    _, req = era5.build_request(
        2021, ["surface_pressure"], (33, 43, -33, -23), hours=[0, 6, 12, 18]
    )
    assert req["time"] == ["00:00", "06:00", "12:00", "18:00"] and req["variable"] == [
        "surface_pressure"
    ]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"variables": ["nope"]}, "unknown ERA5 variable 'nope'"),
        ({"years": [1800]}, "must lie in 1940"),
        ({"hours": [24]}, "hours"),
        ({"bbox": (43, 33, -33, -23)}, "min < max"),
    ],
)
def test_build_request_errors(kwargs, match):
    args = {"years": [2021], "variables": ["sst"], "bbox": (33, 43, -33, -23)} | kwargs
    with pytest.raises(ConfigError, match=match):
        era5.build_request(**args)


def test_build_request_pressure_levels():
    name, req = era5.build_request(
        [2021], ["z", "temperature", "u", "v"], (33, 43, -33, -23), months=[1], levels=[850, 500]
    )
    assert name == "reanalysis-era5-pressure-levels"
    assert req["variable"] == [
        "geopotential",
        "temperature",
        "u_component_of_wind",
        "v_component_of_wind",
    ]
    assert req["pressure_level"] == ["500", "850"] and req["month"] == ["01"]
    assert req["area"] == [43.0, -33.0, 33.0, -23.0] and len(req["time"]) == 24
    _, req = era5.build_request(2021, ["q", "w"], levels=500)
    assert req["variable"] == ["specific_humidity", "vertical_velocity"]
    assert req["pressure_level"] == ["500"]
    assert "pressure_level" not in era5.build_request(2021, ["sst"])[1]


def test_build_requests_split_by_year_or_month():
    single = era5.build_requests([2020, 2021], ["sst"])
    assert [(label, name) for label, name, _ in single] == [
        ("2020", era5.DATASET),
        ("2021", era5.DATASET),
    ]
    assert len(single[0][2]["month"]) == 12
    monthly = era5.build_requests([2020, 2021], ["z"], levels=[500])
    assert len(monthly) == 24
    assert {name for _, name, _ in monthly} == {"reanalysis-era5-pressure-levels"}
    assert monthly[0][0] == "2020-01" and monthly[-1][0] == "2021-12"
    assert [(r["year"], r["month"]) for _, _, r in monthly[11:13]] == [
        (["2020"], ["12"]),
        (["2021"], ["01"]),
    ]


@pytest.mark.parametrize(
    "variables, levels, match",
    [
        (["z", "sst"], [500], "'sst' is a single-level variable .*drop --levels"),
        (["sst", "z"], None, "'z' is a pressure-level variable; add --levels"),
        (["geopotential"], None, "'geopotential' is a pressure-level variable"),
        (["nope"], [500], "unknown ERA5 variable 'nope'; known: .* with --levels z, t"),
        (["z"], [501], r"pressure levels \[501\] are not on the CDS; pick from 1, 2"),
        (["z"], [], "no pressure level is not on the CDS|no pressure level"),
        ([], [500], "e.g. --variables z"),
    ],
)
def test_pressure_level_errors(variables, levels, match):
    with pytest.raises(ConfigError, match=match) as err:
        era5.build_requests([2021], variables, levels=levels)
    assert "\n" not in str(err.value)


def test_missing_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("CDSAPI_URL", raising=False)
    monkeypatch.delenv("CDSAPI_KEY", raising=False)
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "no.cdsapirc"))
    with pytest.raises(RetrievalError, match="no CDS API key: create .*no.cdsapirc") as err:
        era5.fetch_era5(tmp_path / "out.nc", [2021], ["sst"], (33, 43, -33, -23))
    assert "\n" not in str(err.value)
    monkeypatch.setenv("CDSAPI_URL", "https://example.invalid/api")
    monkeypatch.setenv("CDSAPI_KEY", "k")
    era5.check_credentials()


def test_cdsapi_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cdsapi", None)
    with pytest.raises(DependencyError, match=r"pip install 'dsc-explorer\[era5\]'"):
        era5.fetch_era5(tmp_path / "out.nc", [2021], ["sst"], (33, 43, -33, -23))


def cds_hourly(request: dict) -> xr.Dataset:
    """What the CDS returns for a request (new layout): valid_time, lat descending, packed."""
    year = int(request["year"][0])
    hours = [int(h[:2]) for h in request["time"]]
    t = pd.DatetimeIndex(
        [pd.Timestamp(year, 1, d, h) for d in (1, 2, 3) for h in hours], name="valid_time"
    )
    n, w, s, e = request["area"]
    lat, lon = np.arange(n, s - 0.1, -1.0), np.arange(w, e + 0.1, 1.0)
    shape = (t.size, lat.size, lon.size)
    ds = xr.Dataset(coords={"valid_time": t, "latitude": lat, "longitude": lon})
    ds = ds.assign_coords(number=0, expver=("valid_time", np.full(t.size, "0001")))
    for cds_name in request["variable"]:
        short = era5.CDS_TO_SHORT[cds_name]
        value = -3600.0 if short == "sshf" else 290.0
        ds[short] = (("valid_time", "latitude", "longitude"), np.full(shape, value))
        ds[short].attrs = {"units": era5.ERA5[short].units}
    return ds


class FakeClient:
    def __init__(self, zipped: bool = False, fail: bool = False):
        self.calls: list = []
        self.zipped, self.fail = zipped, fail

    def retrieve(self, name, request, target):
        self.calls.append((name, request))
        if self.fail:
            raise ConnectionError("Max retries exceeded with url: /api/retrieve")
        ds = cds_hourly(request)
        if not self.zipped:
            ds.to_netcdf(target)
            return
        inst, acc = target + ".instant.nc", target + ".accum.nc"
        ds[["sst"]].to_netcdf(inst)
        ds[["sshf"]].to_netcdf(acc)
        with zipfile.ZipFile(target, "w") as zf:
            zf.write(inst, "data_stream-oper_stepType-instant.nc")
            zf.write(acc, "data_stream-oper_stepType-accum.nc")


@pytest.mark.parametrize("zipped", [False, True])
def test_fetch_postprocesses_hourly_to_daily(tmp_path, zipped):
    client = FakeClient(zipped)
    out = era5.fetch_era5(
        tmp_path / "era5.nc", [2020, 2021], ["sst", "sshf"], (40, 42, -30, -28), client=client
    )
    assert [c[1]["year"] for c in client.calls] == [["2020"], ["2021"]]
    ds = load(out)
    assert ds.sizes["time"] == 6 and (np.diff(ds.latitude) > 0).all()
    np.testing.assert_allclose(ds.sst.values, 290.0)
    # first/last days lack an hour of accumulation; the full middle day sums 24 hours
    np.testing.assert_allclose(ds.sshf.values[1], -3600.0 * 24)
    assert "ERA5" in xr.open_dataset(out).attrs["source"]
    assert [p.name for p in tmp_path.iterdir()] == ["era5.nc"]  # temp files cleaned up


def test_fetch_hours_subset(tmp_path):
    client = FakeClient()
    era5.fetch_era5(tmp_path / "e.nc", 2021, ["sst"], (40, 42, -30, -28), [0, 12], client=client)
    assert client.calls[0][1]["time"] == ["00:00", "12:00"]
    assert load(tmp_path / "e.nc").sizes["time"] == 3


def test_network_error_is_retrieval_error(tmp_path):
    with pytest.raises(RetrievalError, match="CDS request for 2021 failed: Max retries") as err:
        era5.fetch_era5(
            tmp_path / "e.nc", [2021], ["sst"], (40, 42, -30, -28), client=FakeClient(fail=True)
        )
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir())


def cds_hourly_pl(request: dict) -> xr.Dataset:
    """The CDS pressure-level layout: valid_time, pressure_level (descending), lat descending.

    Days 1-2 of the requested month; z = 10 x level + hour, t = 200 + level / 10.
    """
    year, month = int(request["year"][0]), int(request["month"][0])
    hours = [int(h[:2]) for h in request["time"]]
    t = pd.DatetimeIndex(
        [pd.Timestamp(year, month, d, h) for d in (1, 2) for h in hours], name="valid_time"
    )
    levels = np.array(sorted(map(float, request["pressure_level"]), reverse=True))
    n, w, s, e = request["area"]
    lat, lon = np.arange(n, s - 0.1, -1.0), np.arange(w, e + 0.1, 1.0)
    coords = {"valid_time": t, "pressure_level": levels, "latitude": lat, "longitude": lon}
    ds = xr.Dataset(coords=coords)
    ds["pressure_level"].attrs = {"units": "hPa", "long_name": "pressure"}
    ds = ds.assign_coords(number=0, expver=("valid_time", np.full(t.size, "0001")))
    hour = xr.DataArray(t.hour.values.astype(float), dims="valid_time")
    level = xr.DataArray(levels, dims="pressure_level")
    base = xr.zeros_like(ds["latitude"] * ds["longitude"], dtype=float)
    fields = {"z": 10.0 * level + hour + base, "t": 200.0 + level / 10.0 + 0.0 * hour + base}
    for cds_name in request["variable"]:
        short = era5.CDS_TO_SHORT_PL[cds_name]
        da = fields[short].transpose("valid_time", "pressure_level", "latitude", "longitude")
        ds[short] = da.assign_attrs(units=era5.ERA5_PL[short].units)
    return ds


class FakePressureClient:
    """Stands in for cdsapi.Client: records requests, writes CDS-like hourly NetCDF."""

    def __init__(self):
        self.calls: list = []

    def retrieve(self, name, request, target):
        self.calls.append((name, request))
        cds_hourly_pl(request).to_netcdf(target)


@pytest.mark.parametrize("lazy", [False, True])
def test_fetch_pressure_levels_to_daily(tmp_path, monkeypatch, lazy):
    if lazy:  # as for large downloads: daily values stay dask arrays until written
        monkeypatch.setattr(dsc_data, "IN_MEMORY_BYTES", 0)
    client, messages = FakePressureClient(), []
    out = era5.fetch_era5(
        tmp_path / "z500.nc",
        [2021],
        ["z", "t"],
        (40, 42, -30, -28),
        hours=[0, 6, 12, 18],
        client=client,
        progress=messages.append,
        levels=[500, 850],
    )
    assert len(client.calls) == 12
    assert {c[0] for c in client.calls} == {"reanalysis-era5-pressure-levels"}
    assert [c[1]["month"] for c in client.calls] == [[f"{m:02d}"] for m in range(1, 13)]
    assert all(c[1]["pressure_level"] == ["500", "850"] for c in client.calls)
    assert messages[0] == "requesting ERA5 2021-01 (2 variables on 2 levels) from CDS"
    raw = xr.open_dataset(out)
    assert raw["z"].dims == ("time", "pressure_level", "latitude", "longitude")
    assert raw["pressure_level"].values.tolist() == [500, 850]
    assert raw["pressure_level"].attrs["units"] == "hPa"
    assert "reanalysis-era5-pressure-levels" in raw.attrs["source"]
    raw.close()
    for level in (500, 850):
        ds = load(out, level=level)
        assert ds.sizes["time"] == 24 and (np.diff(ds.latitude) > 0).all()
        np.testing.assert_allclose(ds.z.values, 10.0 * level + 9.0)  # mean of 0, 6, 12, 18
        np.testing.assert_allclose(ds.t.values, 200.0 + level / 10.0)
        assert ds.mask.values.all() and ds.z.attrs["units"] == "m**2 s**-2"
    assert describe(out)["levels"] == {"pressure_level": [500, 850]}
    with pytest.raises(DataError, match="pass level="):
        load(out)
    assert [p.name for p in tmp_path.iterdir()] == ["z500.nc"]  # temp files cleaned up


def test_fetch_one_pressure_level_keeps_the_level(tmp_path):
    out = era5.fetch_era5(
        tmp_path / "z.nc", 2021, ["z"], (40, 42, -30, -28), [12], FakePressureClient(), levels=500
    )
    with xr.open_dataset(out) as raw:
        assert raw["z"].dims == ("time", "pressure_level", "latitude", "longitude")
        assert raw["pressure_level"].values.tolist() == [500]
    ds = load(out, level=500)
    np.testing.assert_allclose(ds.z.values, 5012.0)
    assert ds.sizes["time"] == 24


def test_postprocess_checks_the_downloaded_levels(tmp_path):
    _, request = era5.build_request(2021, ["z"], (40, 42, -30, -28), [0], [1], levels=[850])
    cds_hourly_pl(request).to_netcdf(tmp_path / "d.nc")
    with pytest.raises(DataError, match="has levels 850 on 'pressure_level', not the requested"):
        era5.postprocess([tmp_path / "d.nc"], tmp_path / "o.nc", levels=[500])
    assert not (tmp_path / "o.nc").exists()
