"""Opening data files lazily: NetCDF 3/4, Zarr v2/v3, GRIB; one file, a folder, a glob, a list.

Everything here is lazy (dask-chunked along time); nothing reads the data values except
:func:`write_netcdf`. Coordinates are renamed per file (``valid_time`` → ``time``, ``lat`` →
``latitude``, ...) so that files from different producers combine; the combination is what
``xarray.open_mfdataset(combine="by_coords")`` does, done per file so that a file whose grid
differs is named in the error.

netCDF4/HDF5 is not thread-safe: the package holds :data:`NETCDF_LOCK` around every open,
read, write and close it makes itself (dask reads of a big lazily-loaded dataset go through
xarray's own lock only). :func:`confine` puts the process in served mode, where only files
inside given folders are read.
"""

from __future__ import annotations

import glob
import os
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path

import dask
import xarray as xr

from dsc_core.data.conventions import rename_coords
from dsc_core.errors import DataError, DependencyError, first_line

Source = str | os.PathLike | Sequence[str | os.PathLike]

DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".hdf5", ".grib", ".grb", ".grib2")
DATA_SUFFIXES += (".grb2", ".zarr", ".zip")
GRIB_KWARGS = {"time_dims": ("valid_time",), "indexpath": ""}
CHUNKS = "auto"  # dask picks chunks aligned with the file's own chunks, of at most:
CHUNK_SIZE = "16MiB"
"""Largest dask chunk of a variable when opening a file: the preprocessing and the composites
read a chunk of days (of every variable) at a time, so it bounds their memory."""

NETCDF_LOCK = threading.RLock()
"""Held around every netCDF4/HDF5 open, read, write and close of this package in a process."""

_roots: tuple[Path, ...] | None = None


def confine(roots: Iterable[str | os.PathLike] | None) -> None:
    """Served mode: from now on this process reads data only inside the folders ``roots``
    (None: anywhere again).

    Sources are then taken literally (no ``~`` or glob expansion); every file or store they
    name must lie inside a folder once symlinks are followed; folder listings skip entries that
    lead outside; Zarr stores with links out and HDF5/NetCDF-4 files that take data from other
    files (external storage, virtual datasets, external links) are refused.
    """
    global _roots
    _roots = None if roots is None else tuple(Path(r).resolve() for r in roots)


def inside(path: Path, roots: Iterable[Path]) -> bool:
    """Whether ``path``, symlinks followed, lies in one of the (resolved) folders ``roots``."""
    real = path.resolve()
    return any(real == root or root in real.parents for root in roots)


def _inside(path: Path) -> bool:
    """Whether ``path`` may be read: inside a folder of :func:`confine`, or no confine."""
    return _roots is None or inside(path, _roots)


def _check_inside(path: Path) -> None:
    """DataError when ``path``, or anything inside a Zarr store, leads out of the data folders."""
    if not _inside(path):
        raise DataError(
            f"'{path.name}' lies outside the data folders this server may read; "
            "pick a source from the list"
        )
    if _roots is not None and _is_zarr(path):
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                if not _inside(Path(folder) / name):
                    raise DataError(
                        f"Zarr store '{path.name}' links to '{name}' outside the data folders; "
                        "copy the data into the store"
                    )


def _check_self_contained(path: Path) -> None:
    """DataError when an HDF5/NetCDF-4 file takes data from other files."""
    import h5py

    with h5py.File(path, "r") as f:
        seen, groups = set(), [f]
        while groups:
            group = groups.pop()
            for name in group:
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    what = f"an external link ('{name}')"
                elif isinstance(link, h5py.SoftLink):
                    continue
                else:
                    obj = group[name]
                    if hash(obj.id) in seen:
                        continue
                    seen.add(hash(obj.id))
                    if isinstance(obj, h5py.Group):
                        groups.append(obj)
                        continue
                    if not isinstance(obj, h5py.Dataset) or not (obj.external or obj.is_virtual):
                        continue
                    kind = "a virtual dataset" if obj.is_virtual else "external storage"
                    what = f"{kind} ('{name}')"
                raise DataError(
                    f"'{path.name}' takes data from other files through {what}; this server "
                    "reads self-contained files only: copy the data in (nccopy or h5repack)"
                )


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and (
        path.suffix == ".zarr"
        or any((path / m).exists() for m in (".zgroup", ".zarray", ".zmetadata", "zarr.json"))
    )


def resolve(source: Source) -> list[Path]:
    """Expand a path, folder, glob or list into the data files/stores it names (sorted).

    Raises DataError when a path is missing or a folder/glob holds no data file. In served
    mode (:func:`confine`) paths are literal and must lie inside the data folders.
    """
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    if not items:
        raise DataError("no data files given; pass a file, a folder, a glob or a list of files")
    paths: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text) if _roots is not None else Path(text).expanduser()
        if _roots is None and any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)))
            if not matches:
                raise DataError(f"no files match '{text}'; check the pattern")
            paths.extend(m for m in matches if m.is_file() or _is_zarr(m))
        elif not path.exists():
            raise DataError(f"'{text}' does not exist; check the path")
        elif path.is_dir() and not _is_zarr(path):
            _check_inside(path)
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in DATA_SUFFIXES and (p.is_file() or _is_zarr(p)) and _inside(p)
            )
            if not found:
                raise DataError(
                    f"folder '{text}' holds no data files ({', '.join(DATA_SUFFIXES[:5])}, "
                    "...); point to the files or their folder"
                )
            paths.extend(found)
        else:
            paths.append(path)
    for path in paths:
        _check_inside(path)
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
    if fmt == "hdf5" and _roots is not None:
        _check_self_contained(path)
    kwargs: dict = {"chunks": CHUNKS}
    if engine == "cfgrib":
        kwargs["backend_kwargs"] = GRIB_KWARGS
    try:
        with warnings.catch_warnings(), dask.config.set({"array.chunk-size": CHUNK_SIZE}):
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
    datasets: list[xr.Dataset] = []

    def close() -> None:
        for ds in datasets:
            ds.close()

    with NETCDF_LOCK:
        try:
            datasets.extend(open_one(p) for p in paths)
            if len(datasets) == 1:
                return datasets[0]
            combined = _combine(paths, datasets)
        except BaseException:
            close()
            raise
    combined.set_close(close)
    return combined


def open_metadata(paths: list[Path]) -> xr.Dataset:
    """:func:`open_many` under :data:`NETCDF_LOCK`, detached from the files: coordinates read,
    names, attributes, dims, shapes and dtypes kept, the data variables lazy placeholders (all
    zeros) that hold no reference to the files, which are closed. (A dataset kept alive with
    data variables backed by closed files made a later :func:`load` of the same files crash
    netCDF4 with a segmentation fault.)"""
    import dask.array as da

    with NETCDF_LOCK:
        ds = open_many(paths)
        try:
            coords = {name: ds[name].variable.load() for name in ds.coords}
            data_vars = {
                name: xr.Variable(v.dims, da.zeros(v.shape, dtype=v.dtype), v.attrs, v.encoding)
                for name, v in ds.data_vars.items()
            }
            attrs = dict(ds.attrs)
        finally:
            ds.close()
            del ds
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _combine(paths: list[Path], datasets: list[xr.Dataset]) -> xr.Dataset:
    """``datasets`` (opened from ``paths``) combined by coordinates, on one grid."""
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
        with NETCDF_LOCK:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
