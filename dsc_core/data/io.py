"""Opening data files lazily: NetCDF 3/4, Zarr v2/v3, GRIB; one file, a folder, a glob, a list.

Everything here is lazy (dask-chunked along time); nothing reads the data values except
:func:`write_netcdf`. Coordinates are renamed per file (``valid_time`` → ``time``, ``lat`` →
``latitude``, ...) so that files from different producers combine; the combination is what
``xarray.open_mfdataset(combine="by_coords")`` does, done per file so that a file whose grid
differs is named in the error.
"""

from __future__ import annotations

import glob
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path

import xarray as xr

from dsc_core.data.conventions import rename_coords
from dsc_core.errors import DataError, DependencyError, first_line

Source = str | os.PathLike | Sequence[str | os.PathLike]

DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".hdf5", ".grib", ".grb", ".grib2")
DATA_SUFFIXES += (".grb2", ".zarr", ".zip")
GRIB_KWARGS = {"time_dims": ("valid_time",), "indexpath": ""}
CHUNKS = "auto"  # dask picks ~128 MiB chunks aligned with the file's own chunks


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and (
        path.suffix == ".zarr"
        or any((path / m).exists() for m in (".zgroup", ".zarray", ".zmetadata", "zarr.json"))
    )


def resolve(source: Source) -> list[Path]:
    """Expand a path, folder, glob or list into the data files/stores it names (sorted).

    Raises DataError when a path is missing or a folder/glob holds no data file.
    """
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    if not items:
        raise DataError("no data files given; pass a file, a folder, a glob or a list of files")
    paths: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)))
            if not matches:
                raise DataError(f"no files match '{text}'; check the pattern")
            paths.extend(m for m in matches if m.is_file() or _is_zarr(m))
        elif not path.exists():
            raise DataError(f"'{text}' does not exist; check the path")
        elif path.is_dir() and not _is_zarr(path):
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in DATA_SUFFIXES and (p.is_file() or _is_zarr(p))
            )
            if not found:
                raise DataError(
                    f"folder '{text}' holds no data files ({', '.join(DATA_SUFFIXES[:5])}, "
                    "...); point to the files or their folder"
                )
            paths.extend(found)
        else:
            paths.append(path)
    return paths


def sniff(path: Path) -> str:
    """The format of one file: "netcdf3", "hdf5", "grib", "zarr" or "zip"; DataError otherwise."""
    if _is_zarr(path):
        return "zarr"
    if path.is_dir():
        raise DataError(f"'{path}' is a folder, not a data file; point to the files in it")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:3] == b"CDF":
        return "netcdf3"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:4] == b"GRIB":
        return "grib"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    raise DataError(
        f"'{path.name}' is not a NetCDF, Zarr or GRIB file (starts with {head[:4]!r}); "
        "pass a .nc/.zarr/.grib file"
    )


def _engine(fmt: str) -> str:
    """The xarray engine for a format; DependencyError when no installed one reads it."""
    if fmt == "zarr":
        if find_spec("zarr") is None:
            raise DependencyError("reading Zarr needs zarr; run pip install zarr")
        return "zarr"
    if fmt == "grib":
        if find_spec("cfgrib") is None or find_spec("eccodes") is None:
            raise DependencyError(
                "reading GRIB needs cfgrib and eccodes; run pip install 'dsc-explorer[grib]'"
            )
        return "cfgrib"
    if find_spec("netCDF4") is not None:
        return "netcdf4"
    if fmt == "hdf5" and find_spec("h5netcdf") is not None:
        return "h5netcdf"
    if fmt == "netcdf3" and find_spec("scipy") is not None:
        return "scipy"
    raise DependencyError("reading NetCDF needs netCDF4 or h5netcdf; run pip install netCDF4")


def open_one(path: Path) -> xr.Dataset:
    """Open one file or store lazily with dask chunks; coordinates renamed to DSC's names."""
    fmt = sniff(path)
    if fmt == "zip":
        raise DataError(f"'{path.name}' is a zip archive; unzip it and pass the files inside")
    engine = _engine(fmt)
    kwargs: dict = {"chunks": CHUNKS}
    if engine == "cfgrib":
        kwargs["backend_kwargs"] = GRIB_KWARGS
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Failed to open Zarr store with consolidated")
            ds = xr.open_dataset(path, engine=engine, **kwargs)
    except Exception as err:
        if engine == "cfgrib" and "multiple values" in str(err).lower():
            ds = _open_grib_parts(path)
        else:
            raise DataError(
                f"cannot read '{path.name}' as {fmt}: {first_line(err)}; check the file"
            ) from err
    return rename_coords(ds, f"'{path.name}'")


def _open_grib_parts(path: Path) -> xr.Dataset:
    """A GRIB file mixing level/step types (e.g. instant + accumulated): merge its parts."""
    import cfgrib

    parts = cfgrib.open_datasets(path, backend_kwargs=GRIB_KWARGS)
    junk = ("step", "surface", "number")
    parts = [p.drop_vars([c for c in junk if c in p.coords]) for p in parts]
    return xr.merge(parts, compat="override", join="outer").chunk(CHUNKS)


def unzip(path: Path, into: Path) -> list[Path]:
    """Extract a CDS zip download into a folder; the data files it held."""
    with zipfile.ZipFile(path) as zf:
        zf.extractall(into)
    return resolve(into)


def open_many(paths: list[Path]) -> xr.Dataset:
    """Open files and combine them by coordinates (time concatenated, variables merged).

    Raises DataError when grids differ between files.
    """
    datasets = [open_one(p) for p in paths]
    if len(datasets) == 1:
        return datasets[0]
    ref = datasets[0]
    for path, ds in zip(paths[1:], datasets[1:], strict=True):
        for axis in ("latitude", "longitude"):
            a, b = ref[axis].values, ds[axis].values
            if a.shape != b.shape or not (abs(a - b) < 1e-6).all():
                raise DataError(
                    f"grids differ between files: '{paths[0].name}' has {axis} {_span(a)}, "
                    f"'{path.name}' has {_span(b)}; regrid them to one grid or load them apart"
                )
    try:
        return xr.combine_by_coords(
            datasets,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="outer",
            combine_attrs="drop_conflicts",
        )
    except ValueError as err:
        raise DataError(
            f"cannot combine {len(paths)} files: {first_line(err)}; "
            "pass files that split one dataset by time or by variable"
        ) from err


def _span(values) -> str:
    if values.size == 0:
        return "no points"
    return f"{values.size} points {values.min():g}..{values.max():g}"


def write_netcdf(ds: xr.Dataset, out: str | os.PathLike) -> Path:
    """Write ``ds`` to NetCDF-4 atomically (temp file in the same folder, then rename)."""
    out = Path(out).expanduser()
    if not out.parent.exists():
        raise DataError(f"folder '{out.parent}' does not exist; create it or pick another --out")
    encoding = {
        name: {"zlib": True, "complevel": 4}
        for name, var in ds.data_vars.items()
        if var.dtype.kind == "f"
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
