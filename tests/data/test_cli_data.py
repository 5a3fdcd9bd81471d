"""`dsc sample`, `dsc info`, `dsc fetch-era5` through the CLI entry point."""

from __future__ import annotations

import json

import pytest
import xarray as xr

from dsc_core.cli import main
from dsc_core.data import era5, load


def test_sample_and_info(tmp_path, capsys):
    out = tmp_path / "s.nc"
    rc = main(["sample", "--out", str(out), "--start", "2021-01-01", "--end", "2021-02-28",
               "--regimes", "3", "--seed", "1"])  # fmt: skip
    assert rc == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    ds = load(out)
    assert ds.sizes["time"] == 59 and ds.attrs["synthetic"] == 1 and "regime" in ds.coords
    assert [p.name for p in tmp_path.iterdir()] == ["s.nc"]
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "synthetic sample: 59 days 2021-01-01 .. 2021-02-28 (daily, consecutive" in text
    assert "sshf" in text
    assert main(["info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [41, 41]


def test_suite_case_and_its_gaps(tmp_path, capsys):
    assert main(["sample", "--list-cases"]) == 0
    listing = capsys.readouterr().out
    assert "z500-djf-eofs" in listing and "report" in listing
    out = tmp_path / "c.nc"
    assert main(["sample", "--case", "z850-small-grid-8", "--seed", "3", "--out", str(out)]) == 0
    assert "SYNTHETIC case z850-small-grid-8" in capsys.readouterr().out
    ds = load(out)
    assert "z850-small-grid-8" in ds.attrs["title"] and set(ds.data_vars) >= {"z", "t", "u", "v"}
    assert ds.sizes["latitude"] == 16 and ds.sizes["longitude"] == 16
    assert main(["sample", "--case", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown case 'nope'" in err and "--list-cases" in err
    none = tmp_path / "none.nc"
    assert main(["sample", "--case", "gen-012", "--out", str(none)]) == 0  # a generated case
    assert "no regimes planted" in capsys.readouterr().out
    assert "regime" not in load(none).coords
    year = xr.open_dataset(out).isel(time=slice(0, 365))  # 2001
    djf = year.isel(time=year["time.month"].isin([12, 1, 2]))
    djf.to_netcdf(tmp_path / "djf.nc")
    assert main(["info", str(tmp_path / "djf.nc")]) == 0
    assert "(daily, 2 blocks of 31–59 days" in capsys.readouterr().out


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.nc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "does not exist" in err
    assert main(["sample", "--out", str(tmp_path / "x" / "s.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["fetch-era5", "--out", "o.nc", "--years", "2021", "--bbox", "1,2"]) == 2
    assert "--bbox must be lat_min,lat_max,lon_min,lon_max" in capsys.readouterr().err


def test_fetch_era5_cli_bbox_order(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake(out, years, variables, bbox, hours=None, progress=None, levels=None):
        seen.update(years=years, variables=variables, bbox=bbox, hours=hours, levels=levels)
        xr.Dataset().to_netcdf(out)
        return out

    monkeypatch.setattr(era5, "fetch_era5", fake)
    argv = ["fetch-era5", "--out", str(tmp_path / "e.nc"), "--years", "2021,2022",
            "--variables", "sst,t2m", "--bbox", "33,43,-33,-23", "--hours", "0,12"]  # fmt: skip
    assert main(argv) == 0
    assert seen == {
        "years": [2021, 2022],
        "variables": ["sst", "t2m"],
        "bbox": (33.0, 43.0, -33.0, -23.0),
        "hours": [0, 12],
        "levels": None,
    }
    assert main(["fetch-era5", "--out", str(tmp_path / "z.nc"), "--years", "2021",
                 "--levels", "500,850", "--variables", "z,t,u,v"]) == 0  # fmt: skip
    assert seen["levels"] == [500, 850] and seen["variables"] == ["z", "t", "u", "v"]
    assert main(["fetch-era5", "--out", str(tmp_path / "z.nc"), "--years", "2021",
                 "--levels", "500"]) == 0  # fmt: skip
    assert seen["levels"] == [500] and seen["variables"] == ["z"]  # z by default on levels
    assert main(["fetch-era5", "--out", str(tmp_path / "e.nc"), "--years", "2021"]) == 0
    assert seen["levels"] is None and seen["variables"] == list(era5.PAPER_VARIABLES)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--variables", "z,t"], "'z' is a pressure-level variable; add --levels"),
        (["--levels", "500", "--variables", "z,sst"], "'sst' is a single-level variable"),
        (["--levels", "499"], "pressure levels [499] are not on the CDS"),
        (["--levels", "500hPa"], "--levels '500hPa' is not a comma-separated list"),
    ],
)
def test_fetch_era5_cli_level_errors(tmp_path, capsys, extra, message):
    argv = ["fetch-era5", "--out", str(tmp_path / "z.nc"), "--years", "2021", *extra]
    assert main(argv) == 2  # before any download: no client, no key needed
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["sample", "--help"], ["fetch-era5", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "--out" in capsys.readouterr().out
