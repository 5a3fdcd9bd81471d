"""Data layer: files or the built-in sample → one clean daily xarray.Dataset.

``load`` reads NetCDF 3/4, Zarr v2/v3 and GRIB (one file, a folder, a glob or a list), ERA5 as
the CDS writes it (old ``time`` and new ``valid_time`` layouts, int16 packing, ``expver``,
hourly steps) and other CF files (``lat``/``lon``, 0–360 longitudes, cftime calendars, vertical
levels, fill values without attributes), and returns DSC's layout (see :func:`load`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core.data import conventions as cv
from dsc_core.data.calendar import blocks_text
from dsc_core.data.io import NETCDF_LOCK, open_many, open_metadata, resolve
from dsc_core.errors import ConfigError, DataError

__all__ = ["load", "describe", "sample"]

MIN_VALID_SHARE = 0.5  # a cell is valid when every variable is finite on >= this share of days
IN_MEMORY_BYTES = 512 * 2**20  # results up to this size are computed; bigger stay dask-backed

Bbox = tuple[float, float, float, float]


def sample(
    start: str = "2021-01-01", end: str = "2021-12-31", n_regimes: int = 4, seed: int = 0
) -> xr.Dataset:
    """The synthetic ERA5-like sample with planted regimes (see :mod:`dsc_core.data.synthetic`)."""
    from dsc_core.data.synthetic import sample as build  # scipy: imported only when used

    return build(start=start, end=end, n_regimes=n_regimes, seed=seed)


@functools.lru_cache(maxsize=1)
def _built_sample() -> xr.Dataset:
    return sample()


def _sample_dataset() -> xr.Dataset:
    """The default sample: built once per process (~1 s), a shallow copy for each caller."""
    return _built_sample().copy()


def load(
    source: str | os.PathLike | Sequence[str | os.PathLike] | xr.Dataset,
    variables: Sequence[str] | str | None = None,
    start: str | None = None,
    end: str | None = None,
    bbox: Bbox | None = None,
    level: float | str | None = None,
) -> xr.Dataset:
    """Load gridded data as DSC's clean daily dataset.

    ``source`` is ``"sample"`` (the synthetic ERA5-like set, ``synthetic=1``), a file, a folder,
    a glob, a list of files, or an ``xarray.Dataset``. ``variables`` are names in the file, ERA5
    short names (``sst``, ``t2m``, ...) or CDS names; default all variables on (time, lat, lon).
    ``start``/``end`` are inclusive "YYYY-MM-DD"; ``bbox`` is (lat_min, lat_max, lon_min,
    lon_max) in degrees (0–360 longitudes accepted); ``level`` picks one vertical level when the
    data have several.

    Returns dims (time, latitude, longitude): ``time`` datetime64[ns] at 00:00 (one per day
    present; missing days are not invented), ``latitude`` ascending, ``longitude`` ascending in
    −180..180; float32 variables named by ERA5 short name where one fits, with ``units`` and
    ``long_name``; ``mask`` bool (latitude, longitude), True where every variable is finite on at
    least half of the days (and the file's own ``mask``, if any, is True). Results up to 512 MiB
    are computed in memory; bigger ones stay dask-backed.

    Sub-daily steps become daily values:

    * instantaneous fields (sst, t2m, sp, u10, ...): mean of the day's steps;
    * ERA5 accumulated fields (sshf, slhf, ssr, str, ssrd, strd, tisr, tp, cp, lsp, e) in J m-2
      or m: each hourly ERA5 value is the accumulation over the hour *ending* at its time stamp,
      so the stamps are moved back one hour (00:00 closes the previous day) and the day's value
      is 24 × the mean of its steps, i.e. the SUM over the day's 24 hours (J m-2 per day);
      with a subset of hours (e.g. 00/06/12/18) or a partial first/last day it is the same
      estimate from the steps present.
      Rates (W m-2, kg m-2 s-1) are averaged like any other field;
    * already-daily data (one step per date, any time of day) are kept as they are.

    Values with |x| >= 1e19 are missing (fill values written without ``_FillValue``); other
    sentinels such as -9999 are only missing when declared by ``_FillValue``/``missing_value``.
    Upward-positive CF/CMIP fluxes (``hfss``, ``hfls``, ``surface_upward_*_flux``) mapped to
    sshf/slhf are sign-flipped to ERA5's downward-positive convention (units kept). cftime
    calendars are converted as :func:`dsc_core.data.conventions.to_datetime_days` documents.

    Raises DataError (bad file or selection), DependencyError (format not installed),
    ConfigError (malformed arguments).
    """
    if isinstance(source, str) and source == "sample":
        raw, label = _sample_dataset(), "sample"
    elif isinstance(source, xr.Dataset):
        raw, label = cv.rename_coords(source), "dataset"
    else:
        paths = resolve(source)
        label = os.fspath(paths[0]) if len(paths) == 1 else _list_label(paths)
        with NETCDF_LOCK:
            return _clean(open_many(paths), label, variables, start, end, bbox, level)
    return _clean(raw, label, variables, start, end, bbox, level)


def _list_label(paths: list) -> str:
    return f"{len(paths)} files: {os.fspath(paths[0])} ... {os.fspath(paths[-1])}"


def _candidates(ds: xr.Dataset) -> dict[str, tuple[str, float]]:
    """Usable variables: {DSC name: (name in ds, sign)} for numeric (time, lat, lon) fields."""
    out: dict[str, tuple[str, float]] = {}
    for name, var in ds.data_vars.items():
        if var.dtype.kind not in "iuf" or not {"time", "latitude", "longitude"} <= set(var.dims):
            continue
        short, sign = cv.short_name(str(name), var)
        if short in out or (short != name and short in ds.data_vars):
            short, sign = str(name), 1.0
        out[short] = (str(name), sign)
    return out


def _pick(ds: xr.Dataset, variables, label: str) -> tuple[xr.Dataset, list[str]]:
    """Select and rename the chosen variables; DataError naming the available ones."""
    cands = _candidates(ds)
    if not cands:
        raise DataError(
            f"no variable on (time, latitude, longitude) in {label} (variables: "
            f"{', '.join(map(str, ds.data_vars)) or 'none'}); pass a gridded daily/hourly file"
        )
    alias = {orig: short for short, (orig, _) in cands.items()}
    alias.update({cv.ERA5[s].cds_name: s for s in cands if s in cv.ERA5})
    if variables is None:
        names = list(cands)
    else:
        wanted = [variables] if isinstance(variables, str) else list(variables)
        if not wanted:
            raise ConfigError("variables is empty; name at least one variable or pass None")
        names = []
        for w in wanted:
            name = w if w in cands else alias.get(w)
            if name is None:
                avail = ", ".join(s if s == o else f"{s} ({o})" for s, (o, _) in cands.items())
                raise DataError(f"unknown variable '{w}' in {label}; available: {avail}")
            if name not in names:
                names.append(name)
    out = xr.Dataset(coords={c: ds[c] for c in ds.coords})
    for name in names:
        orig, sign = cands[name]
        da = ds[orig]
        out[name] = da * sign if sign != 1.0 else da
        out[name].attrs = dict(da.attrs)
        if sign != 1.0:
            out[name].attrs["comment"] = "sign flipped to ERA5's downward-positive convention"
    out.attrs = dict(ds.attrs)
    return out, names


def _levels(ds: xr.Dataset, level, label: str) -> xr.Dataset:
    """Squeeze one vertical level; with several, select ``level`` (DataError if not given)."""
    dims = [d for d in cv.find_levels(ds) if d not in ("time", "latitude", "longitude")]
    multi = [d for d in dims if ds.sizes[d] > 1]
    if not multi and level is not None and dims:  # one level: it must be the one asked for
        dim = dims[0]
        avail = [v.item() for v in ds[dim].values] if dim in ds.coords else []
        if avail and not any(str(v) == str(level) or _num_eq(v, level) for v in avail):
            raise DataError(
                f"level {level} not in {label} ('{dim}' has only {avail[0]}); pass level="
                f"{avail[0]} or another file"
            )
    if len(multi) > 1:
        raise DataError(f"several vertical dimensions {multi} in {label}; select one level first")
    if multi:
        dim = multi[0]
        avail = [v.item() for v in ds[dim].values] if dim in ds.coords else []
        if level is None:
            raise DataError(
                f"{label} has {len(avail)} levels on '{dim}' ({', '.join(map(str, avail))}); "
                "pass level= (--level on the command line) one of them"
            )
        match = [i for i, v in enumerate(avail) if str(v) == str(level) or _num_eq(v, level)]
        if not match:
            raise DataError(
                f"level {level} not in {label} ('{dim}' has {', '.join(map(str, avail))}); "
                "pass one of those"
            )
        ds = ds.isel({dim: match[0]})
    elif level is not None and not dims:
        raise DataError(f"{label} has no vertical level dimension; drop level={level}")
    extra = {d: n for d, n in ds.sizes.items() if d not in ("time", "latitude", "longitude")}
    for dim, n in extra.items():
        if n != 1:
            users = [v for v in ds.data_vars if dim in ds[v].dims]
            raise DataError(
                f"variables {users} in {label} have an extra dimension '{dim}' ({n} values); "
                "select one value of it before loading"
            )
        ds = ds.isel({dim: 0})
    return ds


def _num_eq(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        return False


def _day(value, what: str) -> np.datetime64 | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return np.datetime64(value.strip()[:10], "D").astype("datetime64[ns]")
        return pd.Timestamp(value).floor("D").to_datetime64()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{what}={value!r} is not a date; use YYYY-MM-DD") from err


def check_bbox(bbox) -> Bbox | None:
    """``(lat_min, lat_max, lon_min, lon_max)`` as floats, longitudes in −180..180; ConfigError
    for anything else (boxes across the dateline are not supported)."""
    if bbox is None:
        return None
    try:
        lat0, lat1, lon0, lon1 = (float(v) for v in bbox)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"bbox={bbox!r} is not 4 numbers; use (lat_min, lat_max, lon_min, lon_max)"
        ) from err
    lon0, lon1 = ((lon0 + 180) % 360) - 180 if lon0 > 180 else lon0, lon1
    lon1 = ((lon1 + 180) % 360) - 180 if lon1 > 180 else lon1
    if not (-90 <= lat0 < lat1 <= 90) or not (-180 <= lon0 < lon1 <= 180):
        raise ConfigError(
            f"bbox={bbox!r} is not (lat_min, lat_max, lon_min, lon_max) with min < max "
            "(boxes across the dateline are not supported)"
        )
    return lat0, lat1, lon0, lon1


def _select_box(ds: xr.Dataset, box: Bbox | None, label: str) -> xr.Dataset:
    if box is None:
        return ds
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ilat = np.flatnonzero((lat >= box[0]) & (lat <= box[1]))
    ilon = np.flatnonzero((lon >= box[2]) & (lon <= box[3]))
    if ilat.size == 0 or ilon.size == 0:
        raise DataError(
            f"bbox {box} selects no grid point of {label}, which covers latitude "
            f"{lat.min():g}..{lat.max():g} and longitude {lon.min():g}..{lon.max():g}; "
            "pick a box inside it"
        )
    return ds.isel(latitude=ilat, longitude=ilon)


def _times(ds: xr.Dataset, label: str) -> xr.Dataset:
    """Time as sorted, unique datetime64[ns] (cftime converted, invalid dates dropped)."""
    values, keep = cv.to_datetime_days(np.asarray(ds["time"].values))
    keep &= ~np.isnat(values)
    if not keep.all():
        ds = ds.isel(time=np.flatnonzero(keep))
        values = values[keep]
    ds = ds.assign_coords(time=("time", values, {}))
    if values.size and not (np.diff(values) > np.timedelta64(0)).all():
        _, first = np.unique(values, return_index=True)
        ds = ds.isel(time=np.sort(first)).sortby("time")
    return ds


def _group_mean(da: xr.DataArray, labels: np.ndarray) -> xr.DataArray:
    """NaN-skipping mean over runs of equal ``labels`` along time (labels sorted, one per step).

    da: (time, ...) numpy- or dask-backed → (label, ...) float32, one row per distinct label.
    Dask input is rechunked so that no day straddles two chunks, then reduced block by block
    (``np.add.reduceat``): one pass over the data, no per-day tasks.
    """
    da = da.transpose("time", ...)
    new = np.r_[True, labels[1:] != labels[:-1]]
    starts = np.flatnonzero(new)

    def reduce(x: np.ndarray, block_info=None) -> np.ndarray:
        lo, hi = block_info[0]["array-location"][0] if block_info else (0, x.shape[0])
        local = np.flatnonzero(new[lo:hi])
        sizes = np.diff(np.r_[local, x.shape[0]])
        finite = np.isfinite(x)
        values, counts = np.where(finite, x, 0).astype("float32"), finite.astype("float32")
        if (sizes == sizes[0]).all():  # regular steps: a reshape is ~5x faster than reduceat
            shape = (local.size, int(sizes[0]), *x.shape[1:])
            total, count = values.reshape(shape).sum(1), counts.reshape(shape).sum(1)
        else:
            total = np.add.reduceat(values, local, axis=0)
            count = np.add.reduceat(counts, local, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / count).astype("float32")

    data = da.data
    if isinstance(data, np.ndarray):
        values = reduce(data)
    else:
        target = max(data.chunks[0][0], 1)
        bounds = [0]
        for start in starts[1:]:
            if start - bounds[-1] >= target:
                bounds.append(int(start))
        bounds.append(labels.size)
        data = data.rechunk({0: tuple(np.diff(bounds))})
        groups = tuple(int(new[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        values = data.map_blocks(reduce, chunks=(groups, *data.chunks[1:]), dtype="float32")
    coords = {"time": labels[starts].astype("datetime64[ns]")}
    coords.update({d: da[d] for d in da.dims[1:] if d in da.coords})
    return xr.DataArray(values, dims=da.dims, coords=coords)


def _daily(ds: xr.Dataset, start, end, label: str) -> xr.Dataset:
    """Select the inclusive date range and turn sub-daily steps into daily values."""
    t = ds["time"].values
    if t.size == 0:
        raise DataError(f"{label} has no valid time steps; check its time axis")
    days = t.astype("datetime64[D]")
    lo = start.astype("datetime64[D]") if start is not None else days[0]
    hi = end.astype("datetime64[D]") if end is not None else days[-1]
    subdaily = np.unique(days).size < days.size
    # the day an hourly accumulation belongs to: it covers the hour ending at its stamp
    shifted = (t - np.timedelta64(1, "h")).astype("datetime64[D]") if subdaily else days
    sel = ((days >= lo) & (days <= hi)) | ((shifted >= lo) & (shifted <= hi))
    if lo > hi or not ((days >= lo) & (days <= hi)).any():
        raise DataError(
            f"no data between {lo} and {hi} in {label}, which covers {days[0]} to {days[-1]}; "
            "pick dates inside that range"
        )
    ds = ds.isel(time=np.flatnonzero(sel))
    t, days, shifted = t[sel], days[sel], shifted[sel]
    out_days = np.unique(days[(days >= lo) & (days <= hi)])
    if not subdaily:
        ds = ds.assign_coords(time=days.astype("datetime64[ns]"))
        for name in ds.data_vars:
            ds[name].attrs.setdefault("cell_methods", "time: mean")
        return ds
    keep_coords = [c for c in ds.coords if c not in ("time", "latitude", "longitude")]
    ds = ds.drop_vars([c for c in keep_coords if "time" in ds[c].dims])
    out = xr.Dataset(coords={"time": out_days.astype("datetime64[ns]")})
    for name, da in ds.data_vars.items():
        attrs = dict(da.attrs)
        if cv.is_accumulated(str(name), str(attrs.get("units", ""))):
            daily = (_group_mean(da, shifted) * 24.0).reindex(time=out["time"])
            attrs["cell_methods"] = "time: sum (24 x mean of the day's steps)"
        else:
            daily = _group_mean(da, days).reindex(time=out["time"])
            attrs["cell_methods"] = "time: mean"
        out[name] = daily.assign_attrs(attrs)
    out.attrs = ds.attrs
    return out.assign_coords({c: ds[c] for c in ds.coords if c not in out.coords and c != "time"})


def _clean(raw: xr.Dataset, label, variables, start, end, bbox, level) -> xr.Dataset:
    start_d, end_d = _day(start, "start"), _day(end, "end")
    box = check_bbox(bbox)
    file_mask = None
    if "mask" in raw.data_vars and set(raw["mask"].dims) == {"latitude", "longitude"}:
        file_mask = raw["mask"]
        raw = raw.drop_vars("mask")
    ds, names = _pick(raw, variables, label)
    ds = _levels(ds, level, label)
    if file_mask is not None:
        ds["mask"] = file_mask.astype(bool)
    ds = _select_box(cv.normalise_lon_lat(ds), box, label)
    if file_mask is not None:
        file_mask = ds["mask"].transpose("latitude", "longitude")
        ds = ds.drop_vars("mask")
    ds = _times(ds, label)
    for name in names:
        da = ds[name]
        attrs = dict(da.attrs)
        da = da.astype("float32")
        ds[name] = da.where(abs(da) < cv.HUGE).assign_attrs(attrs)
    ds = _daily(ds, start_d, end_d, label)
    out = xr.Dataset(coords={c: ds[c] for c in ("time", "latitude", "longitude")})
    for c, coord in ds.coords.items():
        if coord.dims == ("time",) and c != "time" and coord.dtype.kind in "iufb":
            out = out.assign_coords({c: coord})
    for name in names:
        attrs = ds[name].attrs
        era5 = cv.ERA5.get(name)
        units = attrs.get("units", era5.units if era5 else "1")
        long_name = (
            attrs.get("long_name")
            or attrs.get("standard_name")
            or (era5.long_name if era5 else name)
        )
        meta = {"units": str(units), "long_name": str(long_name)}
        for key in ("standard_name", "cell_methods", "comment"):
            if key in attrs:
                meta[key] = attrs[key]
        da = ds[name].transpose("time", "latitude", "longitude").astype("float32")
        da.encoding = {}
        out[name] = da.assign_attrs(meta)
    out["time"].encoding = {}
    return _finish(out, raw.attrs, file_mask, label, names)


def _finish(out: xr.Dataset, raw_attrs: dict, file_mask, label: str, names) -> xr.Dataset:
    """Compute the mask (and the data when small), check for all-missing variables."""
    import dask

    n_days = out.sizes["time"]
    counts = [out[n].notnull().sum("time") for n in names]
    small = out.nbytes <= IN_MEMORY_BYTES
    if small:
        out, *counts = dask.compute(out, *counts)
    else:
        counts = list(dask.compute(*counts))
    for name, count in zip(names, counts, strict=True):
        if int(count.sum()) == 0:
            raise DataError(
                f"variable '{name}' has no valid value in the selection of {label}; "
                "pick another variable, period or box"
            )
    mask = np.ones((out.sizes["latitude"], out.sizes["longitude"]), bool)
    for count in counts:
        mask &= count.transpose("latitude", "longitude").values >= MIN_VALID_SHARE * n_days
    if file_mask is not None:
        mask &= np.asarray(file_mask.values, bool)
    if not mask.any():
        raise DataError(
            f"no grid cell of {label} has all of {', '.join(names)} valid on half of the days; "
            "drop a variable or pick another box"
        )
    out["mask"] = xr.DataArray(
        mask,
        dims=("latitude", "longitude"),
        attrs={"long_name": "valid cells (every variable finite on >= 50% of days)"},
    )
    out.attrs = {"source": str(label)}
    if raw_attrs.get("synthetic"):
        out.attrs["synthetic"] = 1
        for key in ("n_regimes", "title"):
            if key in raw_attrs:
                out.attrs[key] = raw_attrs[key]
    return out


def describe(source: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Any]:
    """What a source holds, from its metadata only (the sample is built; files are closed
    before it returns).

    Returns {"variables": {name: long_name or units}, "start": "YYYY-MM-DD", "end": ...,
    "n_days": int, "shape": (nlat, nlon), "synthetic": bool, "levels": {dim: [values]},
    "time_step": e.g. "1h" or "1D", "days": "consecutive" or e.g. "12 blocks of 90 days"
    (gaps between runs of days, as on DJF-only records), "calendar": str, "latitude":
    (min, max), "longitude": (min, max), "files": int}. Names are the ones :func:`load` returns.
    """
    if isinstance(source, str) and source == "sample":
        ds, n_files = _sample_dataset(), 0
    else:
        paths = resolve(source)
        ds, n_files = open_metadata(paths), len(paths)
    cands = _candidates(ds)
    variables = {}
    for short, (orig, _) in cands.items():
        attrs = ds[orig].attrs
        era5 = cv.ERA5.get(short)
        variables[short] = str(
            attrs.get("long_name") or (era5.long_name if era5 else "") or attrs.get("units", "")
        )
    calendar = str(ds["time"].encoding.get("calendar", "standard"))
    times, keep = cv.to_datetime_days(np.asarray(ds["time"].values))
    times = np.sort(times[keep & ~np.isnat(times)])
    days = np.unique(times.astype("datetime64[D]"))
    step = pd.Timedelta(np.median(np.diff(times))) if times.size > 1 else pd.Timedelta("1D")
    lon = ds["longitude"].values.astype(float)
    lon = np.where(lon > 180, lon - 360, lon)
    levels = {
        d: [v.item() for v in ds[d].values]
        for d in cv.find_levels(ds)
        if d in ds.coords and ds.sizes[d] > 1
    }
    return {
        "variables": variables,
        "start": str(days[0]) if days.size else "",
        "end": str(days[-1]) if days.size else "",
        "n_days": int(days.size),
        "shape": (int(ds.sizes["latitude"]), int(ds.sizes["longitude"])),
        "synthetic": bool(ds.attrs.get("synthetic", 0)),
        "levels": levels,
        "time_step": _step_text(step),
        "days": blocks_text(days),
        "calendar": calendar,
        "latitude": (float(ds["latitude"].min()), float(ds["latitude"].max())),
        "longitude": (float(lon.min()), float(lon.max())),
        "files": n_files,
    }


def _step_text(step: pd.Timedelta) -> str:
    if step % pd.Timedelta("1D") == pd.Timedelta(0):
        return f"{step.days}D"
    if step % pd.Timedelta("1h") == pd.Timedelta(0):
        return f"{int(step / pd.Timedelta('1h'))}h"
    return str(step)
