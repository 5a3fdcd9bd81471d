"""ERA5 retrieval from the Copernicus Climate Data Store (CDS) through ``cdsapi``.

:func:`build_request` makes the CDS request for "reanalysis-era5-single-levels", or, with
``levels`` (hPa), for "reanalysis-era5-pressure-levels"; :func:`fetch_era5` downloads one
request per year (per month on pressure levels) into a temporary folder, turns the hourly
fields into daily values with the same code as :func:`dsc_core.data.load` (means; daily sums
for accumulated fluxes) and writes one NetCDF file atomically. Pressure-level files keep a
``pressure_level`` dimension: read one level with ``load(path, level=500)``.

Credentials: ``~/.cdsapirc`` (or the file named by ``CDSAPI_RC``) with ``url:`` and ``key:``
lines, or the ``CDSAPI_URL`` and ``CDSAPI_KEY`` environment variables.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from dsc_core.data.conventions import CDS_TO_SHORT, CDS_TO_SHORT_PL, ERA5, ERA5_PL, find_levels
from dsc_core.data.io import NETCDF_LOCK, open_many, resolve, sniff, unzip, write_netcdf
from dsc_core.errors import (
    ConfigError,
    DataError,
    DependencyError,
    RetrievalError,
    first_line,
)

DATASET = "reanalysis-era5-single-levels"
DATASET_PL = "reanalysis-era5-pressure-levels"
PAPER_VARIABLES = ("sst", "t2m", "sp", "sshf", "slhf", "u10", "v10")
CDS_URL = "https://cds.climate.copernicus.eu/api"
# The pressure levels (hPa) ERA5 has on the CDS.
PRESSURE_LEVELS = (1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 125, 150, 175, 200, 225, 250, 300,
                   350, 400, 450, 500, 550, 600, 650, 700, 750, 775, 800, 825, 850, 875, 900,
                   925, 950, 975, 1000)  # fmt: skip


def _variables(variables: Sequence[str], pressure: bool = False) -> list[str]:
    """ERA5 short names for short or CDS names of one dataset (pressure levels or not).

    ConfigError for an unknown name, or a variable of the other dataset (naming the fix).
    """
    table, to_short = (ERA5_PL, CDS_TO_SHORT_PL) if pressure else (ERA5, CDS_TO_SHORT)
    other, other_to_short = (ERA5, CDS_TO_SHORT) if pressure else (ERA5_PL, CDS_TO_SHORT_PL)
    out = []
    for v in variables:
        short = v if v in table else to_short.get(v)
        if short is None and (v in other or v in other_to_short) and pressure:
            raise ConfigError(
                f"'{v}' is a single-level variable but --levels asks for pressure levels; drop "
                f"--levels, or fetch only pressure-level variables ({', '.join(ERA5_PL)})"
            )
        if short is None and (v in other or v in other_to_short):
            raise ConfigError(
                f"'{v}' is a pressure-level variable; add --levels in hPa (e.g. --levels 500) "
                "and fetch single-level variables in a separate run"
            )
        if short is None:
            raise ConfigError(
                f"unknown ERA5 variable '{v}'; known: {', '.join(ERA5)}, and with --levels "
                f"{', '.join(ERA5_PL)} (or their CDS names)"
            )
        if short not in out:
            out.append(short)
    if not out:
        example = "z" if pressure else "sst,t2m"
        raise ConfigError(f"no ERA5 variable given; e.g. --variables {example}")
    return out


def _levels(levels: Sequence[int] | int) -> list[int]:
    """Pressure levels (hPa), sorted; ConfigError naming the ones the CDS has."""
    levels = [levels] if isinstance(levels, int) else list(levels)
    bad = [lv for lv in levels if lv not in PRESSURE_LEVELS]
    if not levels or bad:
        what = f"pressure levels {bad} are" if bad else "no pressure level is"
        raise ConfigError(
            f"{what} not on the CDS; pick from {', '.join(map(str, PRESSURE_LEVELS))} (hPa), "
            "e.g. --levels 500"
        )
    return sorted({int(lv) for lv in levels})


def _area(bbox: Sequence[float]) -> list[float]:
    """(lat_min, lat_max, lon_min, lon_max) → CDS area [N, W, S, E]."""
    from dsc_core.data import check_bbox

    lat0, lat1, lon0, lon1 = check_bbox(bbox)
    return [lat1, lon0, lat0, lon1]


def build_request(
    years: Sequence[int] | int,
    variables: Sequence[str] = PAPER_VARIABLES,
    bbox: Sequence[float] = (33.0, 43.0, -33.0, -23.0),
    hours: Sequence[int] | None = None,
    months: Sequence[int] | None = None,
    levels: Sequence[int] | int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The CDS request for hourly ERA5 fields: ``(dataset name, request)``.

    ``bbox`` is (lat_min, lat_max, lon_min, lon_max) like :func:`dsc_core.data.load`; the
    request's ``area`` is CDS order [N, W, S, E]. ``hours`` (0–23) defaults to all 24;
    ``months`` to all 12. Variables are ERA5 short names (or CDS names). ``levels`` (hPa)
    asks "reanalysis-era5-pressure-levels" for pressure-level variables (z, t, u, v, q, w,
    ...); without it the request is for "reanalysis-era5-single-levels".
    """
    years = [years] if isinstance(years, int) else list(years)
    this_year = dt.date.today().year
    if not years or any(not 1940 <= int(y) <= this_year for y in years):
        raise ConfigError(f"years {years} must lie in 1940..{this_year}; e.g. --years 2021")
    hours = list(range(24)) if hours is None else sorted({int(h) for h in hours})
    if not hours or any(not 0 <= h <= 23 for h in hours):
        raise ConfigError(f"hours {hours} must lie in 0..23; e.g. --hours 0,6,12,18")
    months = list(range(1, 13)) if months is None else sorted({int(m) for m in months})
    if not months or any(not 1 <= m <= 12 for m in months):
        raise ConfigError(f"months {months} must lie in 1..12")
    pressure = levels is not None
    table = ERA5_PL if pressure else ERA5
    request: dict[str, Any] = {
        "product_type": ["reanalysis"],
        "variable": [table[v].cds_name for v in _variables(variables, pressure)],
        "year": [f"{int(y):04d}" for y in sorted(set(years))],
        "month": [f"{m:02d}" for m in months],
        "day": [f"{d:02d}" for d in range(1, 32)],
        "time": [f"{h:02d}:00" for h in hours],
        "area": _area(bbox),
        "data_format": "netcdf",
        "download_format": "unarchived",
    }
    if levels is None:
        return DATASET, request
    request["pressure_level"] = [str(lv) for lv in _levels(levels)]
    return DATASET_PL, request


def build_requests(
    years: Sequence[int] | int,
    variables: Sequence[str] = PAPER_VARIABLES,
    bbox: Sequence[float] = (33.0, 43.0, -33.0, -23.0),
    hours: Sequence[int] | None = None,
    levels: Sequence[int] | int | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The requests :func:`fetch_era5` sends, as ``[(label, dataset name, request)]``.

    One per year on single levels (label "2021"); one per year and month on pressure levels
    ("2021-01"), whose hourly requests are much larger.
    """
    years = [years] if isinstance(years, int) else list(years)
    if not years:
        raise ConfigError("no year given; e.g. --years 2021")
    if levels is None:
        return [(str(y), *build_request([y], variables, bbox, hours)) for y in years]
    return [
        (f"{y}-{m:02d}", *build_request([y], variables, bbox, hours, [m], levels))
        for y in years
        for m in range(1, 13)
    ]


def check_credentials() -> None:
    """RetrievalError unless a CDS key is configured (file or environment)."""
    if os.environ.get("CDSAPI_URL") and os.environ.get("CDSAPI_KEY"):
        return
    rc = Path(os.environ.get("CDSAPI_RC", "~/.cdsapirc")).expanduser()
    if not rc.is_file():
        raise RetrievalError(
            f"no CDS API key: create {rc} with the lines 'url: {CDS_URL}' and 'key: <your key>' "
            "(key at https://cds.climate.copernicus.eu/profile), or set CDSAPI_URL and CDSAPI_KEY"
        )


def _client() -> Any:
    try:
        import cdsapi
    except ImportError as err:
        raise DependencyError(
            "downloading ERA5 needs cdsapi; run pip install 'dsc-explorer[era5]'"
        ) from err
    check_credentials()
    try:
        return cdsapi.Client(quiet=True, progress=False)
    except Exception as err:
        raise RetrievalError(
            f"cannot start the CDS client: {first_line(err)}; check ~/.cdsapirc"
        ) from err


def postprocess(
    downloads: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    levels: Sequence[int] | int | None = None,
) -> Path:
    """Hourly CDS downloads (NetCDF, GRIB or zips of them) → one daily NetCDF file at ``out``.

    Uses :func:`dsc_core.data.load` (daily means; daily sums for accumulated fluxes); writes
    atomically (temp file + rename). With ``levels`` (hPa) each level is made daily on its own
    and the file keeps a ``pressure_level`` dimension (read one with ``load(out, level=500)``).
    """
    from dsc_core.data import load

    with tempfile.TemporaryDirectory(prefix="dsc-era5-") as tmp:
        files: list[Path] = []
        for i, path in enumerate(resolve(list(downloads))):
            if sniff(path) == "zip":
                files.extend(unzip(path, Path(tmp) / f"part{i}"))
            else:
                files.append(path)
        if levels is None:
            ds, dataset = load(files), DATASET
        else:
            ds, dataset = _daily_levels(files, _levels(levels)), DATASET_PL
        ds.attrs["source"] = f"ERA5 {dataset} (Copernicus Climate Change Service), daily"
        try:
            return write_netcdf(ds, out)
        finally:
            ds.close()


def _daily_levels(files: list[Path], levels: list[int]) -> xr.Dataset:
    """Daily values of each pressure level, stacked on a ``pressure_level`` dimension."""
    from dsc_core.data import load

    with NETCDF_LOCK:  # one open of the downloads for every level; load() reads it per level
        raw = open_many(files)
        dims = [d for d in find_levels(raw) if d in raw.coords]
        have = [float(v) for v in raw[dims[0]].values] if len(dims) == 1 else []
        if len(dims) == 1 and all(any(abs(h - lv) < 1e-6 for h in have) for lv in levels):
            parts = [load(raw, level=lv) for lv in levels]
        elif not dims and len(levels) == 1:  # one level without a level axis (e.g. GRIB)
            parts = [load(raw)]
        else:
            raw.close()
            shown = ", ".join(f"{h:g}" for h in have)
            found = f"levels {shown} on '{dims[0]}'" if len(dims) == 1 else f"level axes {dims}"
            raise DataError(
                f"the CDS download has {found}, not the requested {levels} hPa; fetch again"
            )
    mask = parts[0]["mask"]
    for part in parts[1:]:
        mask = mask & part["mask"]
    level = xr.DataArray(
        np.asarray(levels, dtype="int64"),
        dims="pressure_level",
        attrs={"units": "hPa", "long_name": "pressure", "standard_name": "air_pressure"},
    )
    ds = xr.concat([p.drop_vars("mask") for p in parts], dim=level, combine_attrs="override")
    ds = ds.transpose("time", "pressure_level", "latitude", "longitude")
    ds["mask"] = mask
    ds.set_close(raw.close)
    return ds


def fetch_era5(
    out: str | os.PathLike,
    years: Sequence[int] | int,
    variables: Sequence[str] = PAPER_VARIABLES,
    bbox: Sequence[float] = (33.0, 43.0, -33.0, -23.0),
    hours: Sequence[int] | None = None,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
    levels: Sequence[int] | int | None = None,
) -> Path:
    """Download hourly ERA5 for ``years`` and write daily NetCDF (requests: :func:`build_requests`).

    ``bbox`` is (lat_min, lat_max, lon_min, lon_max); ``hours`` fetches only those hours
    (e.g. 0, 6, 12, 18 for a quarter of the size; daily values then come from those steps).
    ``levels`` (hPa, e.g. 500) fetches pressure-level variables (z, t, u, v, q, w, ...), one
    request per month, into a file with a ``pressure_level`` dimension. ``client`` defaults to
    ``cdsapi.Client()``. Raises DependencyError (no cdsapi), RetrievalError (no key, network
    or CDS failure), ConfigError (bad arguments).
    """
    requests = build_requests(years, variables, bbox, hours, levels)
    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise DataError(f"folder '{out.parent}' does not exist; create it or pick another --out")
    if client is None:
        client = _client()
    with tempfile.TemporaryDirectory(prefix=".dsc-era5-", dir=out.parent) as tmp:
        downloads = []
        for label, name, request in requests:
            target = Path(tmp) / f"era5_{label}.download"
            if progress:
                on = f" on {len(request['pressure_level'])} levels" if levels is not None else ""
                n = len(request["variable"])
                progress(f"requesting ERA5 {label} ({n} variables{on}) from CDS")
            try:
                client.retrieve(name, request, str(target))
            except Exception as err:
                raise RetrievalError(
                    f"CDS request for {label} failed: {first_line(err)}; check the network, your "
                    "key and that the dataset licence is accepted on the CDS website"
                ) from err
            downloads.append(target)
        if progress:
            progress(f"computing daily values and writing {out}")
        return postprocess(downloads, out, levels)
