"""Served mode (``dsc_core.data.io.confine``): data is read only inside the allowed folders."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dsc_core.data import describe, load
from dsc_core.data.io import confine
from dsc_core.errors import DataError
from tests.data.test_io import era5_hourly


@pytest.fixture
def folders(tmp_path):
    """An allowed folder and one outside it, each with a small ERA5 file; served mode on."""
    allowed, outside = tmp_path / "data", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    era5_hourly(2).to_netcdf(allowed / "inside.nc")
    era5_hourly(3).to_netcdf(outside / "secret.nc")
    confine([allowed])
    yield allowed, outside
    confine(None)


def test_symlinks_out_are_neither_listed_nor_followed(folders):
    allowed, outside = folders
    (allowed / "zlink.nc").symlink_to(outside / "secret.nc")
    assert load(allowed).sizes["time"] == 2  # the folder: its own file only
    assert describe(allowed)["files"] == 1
    for source in (allowed / "zlink.nc", outside / "secret.nc", allowed / ".." / "outside"):
        with pytest.raises(DataError, match="outside the data folders"):
            load(source)
    confine(None)
    assert load(allowed / "zlink.nc").sizes["time"] == 3  # a script may read anything


def test_sources_are_taken_literally(folders):
    allowed, outside = folders
    (allowed / "x*.nc").write_bytes((allowed / "inside.nc").read_bytes())
    (allowed / "xa.nc").symlink_to(outside / "secret.nc")
    assert load(allowed / "x*.nc").sizes["time"] == 2  # the file of that name, not a glob
    with pytest.raises(DataError, match="does not exist"):
        load(allowed / "[xy]a.nc")
    with pytest.raises(DataError, match="does not exist"):
        load("~/inside.nc")


def test_zarr_store_with_a_link_out_is_refused(folders):
    allowed, outside = folders
    store = allowed / "d.zarr"
    era5_hourly(2).drop_vars("expver").to_zarr(store, zarr_format=3, consolidated=False)
    assert load(store).sizes["time"] == 2
    chunk = next(p for p in (store / "sst").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.rename(outside / "chunk")
    chunk.symlink_to(outside / "chunk")
    with pytest.raises(DataError, match=r"Zarr store 'd.zarr' links to '.*' outside"):
        load(store)


def hdf5_day_file(path, sst) -> None:
    """A minimal NetCDF-4-like HDF5 file: time, latitude, longitude and ``sst`` (from ``sst``,
    a function that writes the dataset into the file)."""
    with h5py.File(path, "w") as f:
        for name, values in (("time", np.arange(3.0)), ("latitude", [40.0, 41.0]),
                             ("longitude", [-30.0, -29.0])):  # fmt: skip
            f[name] = np.asarray(values)
            f[name].make_scale(name)
        f["time"].attrs["units"] = "days since 2021-01-01"
        sst(f)
        for i, axis in enumerate(("time", "latitude", "longitude")):
            f["sst"].dims[i].attach_scale(f[axis])


@pytest.mark.parametrize("kind", ["external storage", "a virtual dataset", "an external link"])
def test_hdf5_files_that_read_other_files_are_refused(folders, kind):
    allowed, outside = folders
    raw = outside / "raw.bin"
    raw.write_bytes(np.full((3, 2, 2), 290.0).tobytes())
    with h5py.File(outside / "src.h5", "w") as f:
        f["sst"] = np.full((3, 2, 2), 290.0)

    def write(f):
        if kind == "external storage":
            f.create_dataset("sst", (3, 2, 2), "<f8", external=[(str(raw), 0, 96)])
        elif kind == "a virtual dataset":
            layout = h5py.VirtualLayout((3, 2, 2), "<f8")
            layout[:] = h5py.VirtualSource(str(outside / "src.h5"), "sst", (3, 2, 2))
            f.create_virtual_dataset("sst", layout)
        else:
            f["sst"] = np.full((3, 2, 2), 280.0)
            f["more"] = h5py.ExternalLink(str(outside / "src.h5"), "/sst")

    hdf5_day_file(allowed / "ext.nc", write)
    with pytest.raises(DataError, match=f"takes data from other files through {kind}"):
        load(allowed / "ext.nc")
    confine(None)
    assert load(allowed / "ext.nc").sizes["time"] == 3  # readable outside served mode
