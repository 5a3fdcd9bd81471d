"""ERA5 retrieval without network: the request, credential errors, post-processing."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core.data import era5, load
from dsc_core.errors import ConfigError, DependencyError, RetrievalError


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
