"""ERA5 retrieval from the Copernicus Climate Data Store (CDS) through ``cdsapi``.

:func:`build_request` makes the CDS request for "reanalysis-era5-single-levels";
:func:`fetch_era5` downloads one request per year into a temporary folder, turns the hourly
fields into daily values with the same code as :func:`dsc_core.data.load` (means; daily sums
for accumulated fluxes) and writes one NetCDF file atomically.

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

from dsc_core.data.conventions import CDS_TO_SHORT, ERA5
from dsc_core.data.io import resolve, sniff, unzip, write_netcdf
from dsc_core.errors import (
    ConfigError,
    DataError,
    DependencyError,
    RetrievalError,
    first_line,
)

DATASET = "reanalysis-era5-single-levels"
PAPER_VARIABLES = ("sst", "t2m", "sp", "sshf", "slhf", "u10", "v10")
CDS_URL = "https://cds.climate.copernicus.eu/api"


def _variables(variables: Sequence[str]) -> list[str]:
    """ERA5 short names for short or CDS names; ConfigError listing the known ones."""
    out = []
    for v in variables:
        short = v if v in ERA5 else CDS_TO_SHORT.get(v)
        if short is None:
            raise ConfigError(
                f"unknown ERA5 variable '{v}'; known: {', '.join(ERA5)} (or their CDS names)"
            )
        if short not in out:
            out.append(short)
    if not out:
        raise ConfigError("no ERA5 variable given; e.g. --variables sst,t2m")
    return out


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
) -> tuple[str, dict[str, Any]]:
    """The CDS request for hourly ERA5 single-level fields: ``(dataset name, request)``.

    ``bbox`` is (lat_min, lat_max, lon_min, lon_max) like :func:`dsc_core.data.load`; the
    request's ``area`` is CDS order [N, W, S, E]. ``hours`` (0–23) defaults to all 24;
    ``months`` to all 12. Variables are ERA5 short names (or CDS names).
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
    request = {
        "product_type": ["reanalysis"],
        "variable": [ERA5[v].cds_name for v in _variables(variables)],
        "year": [f"{int(y):04d}" for y in sorted(set(years))],
        "month": [f"{m:02d}" for m in months],
        "day": [f"{d:02d}" for d in range(1, 32)],
        "time": [f"{h:02d}:00" for h in hours],
        "area": _area(bbox),
        "data_format": "netcdf",
        "download_format": "unarchived",
    }
    return DATASET, request


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


def postprocess(downloads: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Hourly CDS downloads (NetCDF, GRIB or zips of them) → one daily NetCDF file at ``out``.

    Uses :func:`dsc_core.data.load` (daily means; daily sums for accumulated fluxes); writes
    atomically (temp file + rename).
    """
    from dsc_core.data import load

    with tempfile.TemporaryDirectory(prefix="dsc-era5-") as tmp:
        files: list[Path] = []
        for i, path in enumerate(resolve(list(downloads))):
            if sniff(path) == "zip":
                files.extend(unzip(path, Path(tmp) / f"part{i}"))
            else:
                files.append(path)
        ds = load(files)
        ds.attrs["source"] = f"ERA5 {DATASET} (Copernicus Climate Change Service), daily"
        return write_netcdf(ds, out)


def fetch_era5(
    out: str | os.PathLike,
    years: Sequence[int] | int,
    variables: Sequence[str] = PAPER_VARIABLES,
    bbox: Sequence[float] = (33.0, 43.0, -33.0, -23.0),
    hours: Sequence[int] | None = None,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download hourly ERA5 for ``years`` (one CDS request per year) and write daily NetCDF.

    ``bbox`` is (lat_min, lat_max, lon_min, lon_max); ``hours`` fetches only those hours
    (e.g. 0, 6, 12, 18 for a quarter of the size; daily values then come from those steps).
    ``client`` defaults to ``cdsapi.Client()``. Raises DependencyError (no cdsapi),
    RetrievalError (no key, network or CDS failure), ConfigError (bad arguments).
    """
    years = [years] if isinstance(years, int) else list(years)
    requests = [build_request([y], variables, bbox, hours) for y in years]
    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise DataError(f"folder '{out.parent}' does not exist; create it or pick another --out")
    if client is None:
        client = _client()
    with tempfile.TemporaryDirectory(prefix=".dsc-era5-", dir=out.parent) as tmp:
        downloads = []
        for (name, request), year in zip(requests, years, strict=True):
            target = Path(tmp) / f"era5_{year}.download"
            if progress:
                progress(f"requesting ERA5 {year} ({len(request['variable'])} variables) from CDS")
            try:
                client.retrieve(name, request, str(target))
            except Exception as err:
                raise RetrievalError(
                    f"CDS request for {year} failed: {first_line(err)}; check the network, your "
                    "key and that the dataset licence is accepted on the CDS website"
                ) from err
            downloads.append(target)
        if progress:
            progress(f"computing daily values and writing {out}")
        return postprocess(downloads, out)
