"""Scratch stores: the preprocessed days of a run too large for its memory budget, written
to a Zarr store in a scratch folder (``DSC_SCRATCH`` or the system's temporary folder) and
removed when the run ends; the stores of killed processes are cleared at a server's start.

A store's folder is named ``dsc-days-<host>-<process id>-<random>``: its owner.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsc_core.errors import ConfigError
from dsc_core.processes import alive

if TYPE_CHECKING:
    import xarray as xr

SCRATCH_PREFIX = "dsc-days-"
"""The scratch stores' names: ``dsc-days-<host>-<process id>-<random>``."""


def _owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def write_days(
    pre: Any, ds: xr.Dataset, folder: str | os.PathLike | None = None, progress=None
) -> tuple:
    """``(zarr.Array, store folder)``: ``pre.transform(ds)`` written block by block to a new
    Zarr store (float32, chunks of 32 days × the whole grid) in a fresh folder under
    ``folder`` (None: ``DSC_SCRATCH`` or the system's temporary folder); ``progress(i, n)``
    after each block."""
    import zarr

    folder = folder or os.environ.get("DSC_SCRATCH") or None
    if folder is not None and not Path(folder).is_dir():
        raise ConfigError(
            f"the scratch folder {folder} (DSC_SCRATCH) is not a folder: create it, or unset "
            "DSC_SCRATCH to use the system's temporary folder"
        )
    store = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{_owner()}-", dir=folder))
    try:
        shape = (ds.sizes["time"], len(pre.variables_), *pre.padded_mask_.shape)
        array = zarr.open_array(store / "days.zarr", mode="w", shape=shape,
                                chunks=(32, *shape[1:]), dtype="float32")  # fmt: skip
        pre.transform(ds, out=array, progress=progress)
    except BaseException:
        shutil.rmtree(store, ignore_errors=True)
        raise
    return zarr.open_array(store / "days.zarr", mode="r"), store


def clear_stale_scratch(folder: str | os.PathLike | None = None) -> list[str]:
    """Remove the scratch stores (:func:`write_days`) under ``folder`` (None: ``DSC_SCRATCH``
    or the system's temporary folder) that processes of this host left when they were killed
    (their process is gone); returns their names. Stores of other hosts are left alone."""
    root = Path(folder or os.environ.get("DSC_SCRATCH") or tempfile.gettempdir())
    host = f"{SCRATCH_PREFIX}{socket.gethostname()}-"
    removed = []
    for path in root.glob(f"{host}*") if root.is_dir() else []:
        pid = path.name[len(host) :].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
