"""Runs: the result of one clustering, its directory on disk, and a store of runs.

A run directory holds (no pickle anywhere)::

    config.json      name, creation time, run settings, summary; written last
    labels.csv       time,cluster: one row per day
    metrics.json     internal / truth / regime scores, reference k-means, timings
    latent.nc        latent (time, latent), soft (time, cluster)
    composites.nc    cluster composites (see dsc_core.composites)
    fields.zarr/     the physical fields the run used (anomalies if deseasonalised) + mask,
                     in chunks of days: a stored run is opened without reading them
                     (runs saved before hold fields.nc, read whole)
    field_sums.nc    their per-cell sums over the whole period (a composite of some days then
                     reads those days only; see dsc_core.composites.FieldSums)
    history.csv      the training history, one row per epoch (may be empty)
    preprocessor.json the preprocessing statistics (when known)
    model/           the fitted estimator's own save() (estimators that have one)

:func:`save_run` writes into a hidden temporary directory next to the target, flushes every
file and folder to disk and renames it into place, so a crash never leaves a directory that
looks complete: a run directory is complete when it has ``config.json`` (the last file written
before the rename). :class:`RunStore` reserves each new name atomically, never replaces a run,
clears what interrupted saves left behind (:meth:`RunStore.recover`) and keeps a journal of
jobs in flight (:meth:`RunStore.journal`, :meth:`RunStore.interrupted`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core import __version__
from dsc_core.blocks import BLOCK_BYTES
from dsc_core.composites import FieldSums, field_sums, remember_sums
from dsc_core.data.io import NETCDF_LOCK
from dsc_core.errors import DataError
from dsc_core.processes import alive
from dsc_core.run_config import RunConfig

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
JOURNAL = ".jobs"
SUMMARY_SCORES = ("silhouette_cosine", "davies_bouldin", "rmse")
_SUMMARY_TYPES: dict[str, tuple[type, ...]] = {
    "created": (str, type(None)), "method": (str,), "clusters": (int,), "n_days": (int,),
    "start": (str, type(None)), "end": (str, type(None)), "data": (str, list, type(None)),
    "deseasonalize": (bool,), "scores": (dict,),
}  # fmt: skip
"""The types of a stored run's summary fields (:meth:`Run.summary`)."""
RESERVED_GRACE_S = 60  # an empty run folder younger than this may be a save's reservation
_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOKEN_OK = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}")
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old|deleted)-(?:(?P<pid>\d+)-)?[0-9a-f]{8}")


def jsonable(obj: Any) -> Any:
    """Plain-JSON copy of ``obj``: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _estimator_classes() -> dict[str, type]:
    """The classes a saved model is restored as, by the name its ``config.json`` gives."""
    from dsc_core.baselines import DEC, DTC, FeatureClusterer
    from dsc_core.estimator import DSC

    return {"DSC": DSC, "DEC": DEC, "DTC": DTC, "FeatureClusterer": FeatureClusterer}


def _load_estimator(path: Path) -> Any:
    """The estimator saved in ``path`` by its own ``save``: the class its ``config.json``
    names ("estimator"), from :func:`_estimator_classes` only, then ``load``."""
    name = json.loads((path / "config.json").read_text()).get("estimator")
    cls = _estimator_classes().get(str(name))
    if cls is None:
        raise DataError(f"{path} holds a {name!r} model that cannot be loaded: re-run it")
    return cls.load(path)


VERSIONED = ("numpy", "xarray", "scikit-learn", "torch", "scipy", "pandas")


def package_versions() -> dict[str, str]:
    """Versions of Python, DSC Explorer and the packages that shape a run's numbers."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "dsc-explorer": __version__}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@dataclass
class Run:
    """One clustering of days and its analysis.

    labels: int64 (time,). latent: float (time, latent). soft: float (time, cluster), rows
    sum to 1. composites: :func:`dsc_core.composites.cluster_composites` output. metrics:
    JSON-able dict ("internal", "truth" when the data carry a truth, "regimes", "reference",
    timings). history: one row per training epoch. fields: the physical fields used
    (time, latitude, longitude) + ``mask``. name/path: set when saved or loaded.
    ``model`` gives the fitted estimator (loaded from ``path/model`` on first use).
    """

    config: RunConfig
    labels: xr.DataArray
    latent: xr.DataArray
    soft: xr.DataArray
    composites: xr.Dataset
    metrics: dict
    history: pd.DataFrame
    fields: xr.Dataset
    name: str = ""
    path: Path | None = None
    created: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))
    preprocessor: dict | None = None
    estimator: Any = field(default=None, repr=False)
    versions: dict = field(default_factory=package_versions)
    """Python and the packages the run was made with (:func:`package_versions`)."""

    @property
    def model(self) -> Any:
        """The fitted estimator; loaded lazily from the run directory."""
        if self.estimator is None:
            if self.path is None or not (Path(self.path) / "model").is_dir():
                raise DataError("this run has no saved model: save the run or re-run it")
            self.estimator = _load_estimator(Path(self.path) / "model")
        return self.estimator

    def assign(self, data: Any, start: str | None = None, end: str | None = None) -> xr.DataArray:
        """Cluster of each day of new data with this run's model: ``data`` (a path, "sample"
        or an ``xr.Dataset``) is read with the run's variables, box and months, preprocessed
        with its stored climatology and statistics, and labelled by its fitted model; the
        run's minimum spell and cluster numbering apply. Returns int64 (time,) "cluster".

        DataError when the variables, grid or units differ from the run's.
        """
        from dsc_core.data import load
        from dsc_core.data.calendar import select_months
        from dsc_core.preprocess import Preprocessor
        from dsc_core.regimes import min_spell_filter, relabel

        if self.preprocessor is None:
            raise DataError("this run has no stored preprocessing: re-run it to assign new data")
        pre = Preprocessor.from_dict(self.preprocessor)
        ds = load(data, variables=pre.variables_, start=start, end=end, bbox=self.config.bbox,
                  level=self.config.level)  # fmt: skip
        ds = select_months(ds, self.config.months)
        for v in pre.variables_:
            want, got = pre.attrs_.get(v, {}).get("units"), ds[v].attrs.get("units")
            if want and got and want != got:
                raise DataError(
                    f"variable {v!r} is in {got!r} but the run was fitted on {want!r}: "
                    "convert the new data to the run's units"
                )
        X = pre.transform(ds)
        days = ds["time"].values
        raw = np.asarray(self.model.predict(X, time=days), dtype=np.int64)
        labels = min_spell_filter(raw, self.config.min_spell, time=days)
        order = self.metrics.get("cluster_order") or list(range(self.config.clusters))
        labels = relabel(labels, np.asarray(order))
        return xr.DataArray(labels, dims="time", coords={"time": days}, name="cluster")

    @property
    def n_days(self) -> int:
        return int(self.labels.sizes["time"])

    def default_name(self) -> str:
        """``YYYYmmdd-HHMMSS-<method>-k<K>`` from the creation time and settings."""
        stamp = datetime.fromisoformat(self.created).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{self.config.method}-k{self.config.clusters}"

    def summary(self) -> dict:
        """Short JSON-able description: name, created, method, clusters, n_days, scores."""
        internal = self.metrics.get("internal", {})
        scores = {k: internal.get(k) for k in SUMMARY_SCORES}
        scores.update(self.metrics.get("truth") or {})
        time = self.labels["time"].values
        return jsonable(
            {
                "name": self.name,
                "created": self.created,
                "method": self.config.method,
                "clusters": self.config.clusters,
                "n_days": self.n_days,
                "start": str(np.datetime_as_string(time[0], unit="D")) if len(time) else None,
                "end": str(np.datetime_as_string(time[-1], unit="D")) if len(time) else None,
                "data": self.config.data,
                "deseasonalize": self.config.deseasonalize,
                "scores": scores,
                "path": str(self.path) if self.path else None,
            }
        )


def _symlink_in(folder: Path) -> str:
    """The first symbolic link at or under ``folder`` (its path from the folder's name), or
    "" when there is none."""
    if folder.is_symlink():
        return folder.name
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            if (Path(parent) / name).is_symlink():
                return str((Path(parent) / name).relative_to(folder.parent))
    return ""


def _summary_problem(summary: Any) -> str:
    """What is wrong with a stored run's summary (a hand-edited or damaged config.json), or
    "" when its fields have their types and its scores are numbers."""
    if not isinstance(summary, dict):
        return "its summary is not an object"
    for key, types in _SUMMARY_TYPES.items():
        value = summary.get(key)
        wrong_bool = isinstance(value, bool) and bool not in types  # bool is an int
        if key in summary and (not isinstance(value, types) or wrong_bool):
            return f"its summary's {key!r} is {value!r}"
    for key, value in summary.get("scores", {}).items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"its score {key!r} is {value!r}, not a number"
    return ""


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    encoding = {
        v: {"zlib": True, "complevel": 1}
        for v in ds.data_vars
        if np.issubdtype(ds[v].dtype, np.floating)
    }
    with NETCDF_LOCK:
        ds.to_netcdf(path, engine="netcdf4", encoding=encoding)


FIELD_CHUNK_VALUES = 2**18
"""A stored run's fields are chunked along time in about this many values a variable (1 MB
of float32): a day, or a few days, are read without the rest."""


def _write_fields(fields: xr.Dataset, path: Path) -> None:
    """The run's fields as a Zarr store in chunks of days. Zarr, not netCDF: the stored fields
    stay open while a page shows the run, and an open netCDF/HDF5 file closed by the garbage
    collector in one thread while another thread writes netCDF crashes the process."""
    day = int(np.prod([fields.sizes[d] for d in ("latitude", "longitude")]))
    days = max(1, min(fields.sizes["time"], FIELD_CHUNK_VALUES // max(day, 1)))
    fields = fields.drop_encoding().assign_attrs(data_variables=list(fields.data_vars))
    if any(v.chunks for v in fields.data_vars.values()):  # read lazily (a long record):
        # written in blocks of whole chunks of the store
        block = days * max(1, BLOCK_BYTES // (4 * days * day * len(fields.data_vars)))
        fields = fields.chunk({"time": block, "latitude": -1, "longitude": -1})
    encoding = {v: {"chunks": (days, *fields[v].shape[1:])} for v in fields.data_vars
                if fields[v].dims[:1] == ("time",)}  # fmt: skip
    fields.to_zarr(path, mode="w", encoding=encoding, consolidated=False)


def _open_fields(directory: Path) -> xr.Dataset:
    """A stored run's fields: opened without reading them (read without dask, a block of days
    at a time, by the views), or read whole from a run saved before (``fields.nc``)."""
    if (directory / "fields.zarr").is_dir():
        fields = xr.open_zarr(directory / "fields.zarr", chunks=None, consolidated=False)
        order = fields.attrs.pop("data_variables", list(fields.data_vars))  # a store lists
        return fields[order]  # its arrays in the file system's order
    with NETCDF_LOCK:
        return xr.load_dataset(directory / "fields.nc")


def _write_data(run: Run, tmp: Path) -> None:
    """Every file of the run directory but ``config.json``."""
    model_src = None if run.path is None else Path(run.path) / "model"
    times = pd.DatetimeIndex(run.labels["time"].values)
    pd.DataFrame({"time": times.strftime("%Y-%m-%d"), "cluster": run.labels.values}).to_csv(
        tmp / "labels.csv", index=False
    )
    (tmp / "metrics.json").write_text(json.dumps(jsonable(run.metrics), indent=1, allow_nan=False))
    _write_netcdf(xr.Dataset({"latent": run.latent, "soft": run.soft}), tmp / "latent.nc")
    _write_netcdf(run.composites, tmp / "composites.nc")
    _write_fields(run.fields, tmp / "fields.zarr")
    _write_netcdf(field_sums(run.fields).to_dataset(), tmp / "field_sums.nc")
    run.history.to_csv(tmp / "history.csv", index=False)
    if run.preprocessor is not None:
        (tmp / "preprocessor.json").write_text(json.dumps(jsonable(run.preprocessor)))
    if run.estimator is not None and hasattr(run.estimator, "save"):
        run.estimator.save(tmp / "model")
    elif model_src is not None and model_src.is_dir():
        shutil.copytree(model_src, tmp / "model")


def _write_config(run: Run, tmp: Path) -> None:
    """``config.json``, the file that makes a run directory complete; then everything in
    ``tmp`` is flushed to disk."""
    config = {
        "name": run.name,
        "created": run.created,
        "dsc_version": __version__,
        "versions": run.versions,
        "config": run.config.to_dict(),
        "summary": {k: v for k, v in run.summary().items() if k != "path"},
    }
    (tmp / CONFIG_FILE).write_text(json.dumps(jsonable(config), indent=1, allow_nan=False))
    for folder, _, files in os.walk(tmp, topdown=False):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder))


def _fsync(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_dir(parent: Path, name: str) -> Path:
    """A new hidden folder for a save of ``name``; its name holds this process's id, so that
    :meth:`RunStore.recover` knows when it is stale."""
    tmp = parent / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def save_run(run: Run, directory: str | Path) -> Path:
    """Write ``run`` into ``directory`` atomically; returns the path.

    An existing run directory there is replaced; an existing directory that is not a run (and
    not empty) is refused with a DataError. Sets ``run.path`` (and ``run.name`` if empty).
    """
    target = Path(directory).absolute()
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / CONFIG_FILE).is_file())
    ):
        raise DataError(f"{target} exists and is not a run directory: choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not run.name:
        run.name = target.name
    tmp = _temp_dir(target.parent, target.name)
    old = None
    try:
        _write_data(run, tmp)
        _write_config(run, tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    run.path = target
    return target


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise DataError(f"{directory} is not a complete run directory (no {CONFIG_FILE})")
    return json.loads(path.read_text())


def load_run(directory: str | Path) -> Run:
    """Read a run directory written by :func:`save_run` (no retraining; the model itself is
    loaded on first use of ``run.model``). Its fields stay on disk (read when a view needs
    them); a run saved before ``field_sums.nc`` existed has its sums computed on first use."""
    directory = Path(directory).absolute()
    meta = _read_config(directory)
    labels_df = pd.read_csv(directory / "labels.csv", parse_dates=["time"])
    labels = xr.DataArray(
        labels_df["cluster"].to_numpy(np.int64),
        dims="time",
        coords={"time": labels_df["time"].to_numpy("datetime64[ns]")},
        name="cluster",
    )
    fields = _open_fields(directory)
    with NETCDF_LOCK:
        latent = xr.load_dataset(directory / "latent.nc")
        composites = xr.load_dataset(directory / "composites.nc")
        sums_path = directory / "field_sums.nc"
        if sums_path.is_file():
            remember_sums(fields, FieldSums.from_dataset(xr.load_dataset(sums_path)))
    history_path = directory / "history.csv"
    history = pd.read_csv(history_path) if history_path.stat().st_size > 1 else pd.DataFrame()
    pre_path = directory / "preprocessor.json"
    return Run(
        config=RunConfig.from_dict(meta["config"]),
        labels=labels,
        latent=latent["latent"],
        soft=latent["soft"],
        composites=composites,
        metrics=json.loads((directory / "metrics.json").read_text()),
        history=history,
        fields=fields,
        name=meta.get("name") or directory.name,
        path=directory,
        created=meta.get("created", ""),
        preprocessor=json.loads(pre_path.read_text()) if pre_path.is_file() else None,
        versions=meta.get("versions") or {"dsc-explorer": meta.get("dsc_version", "?")},
    )


class RunStore:
    """A folder of run directories, one per run, named ``YYYYmmdd-HHMMSS-<method>-k<K>``, and a
    journal of the jobs in flight that will save into it (``.jobs/``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def _path(self, name: str) -> Path:
        if not _NAME_OK.fullmatch(name or ""):
            raise DataError(f"invalid run name {name!r}: use letters, digits, '.', '_' or '-'")
        return self.root / name

    def list(self) -> list[dict]:
        """Summaries of the complete runs, newest first (incomplete saves are skipped)."""
        if not self.root.is_dir():
            return []
        out = []
        for d in self.root.iterdir():
            if d.name.startswith(".") or not (d / CONFIG_FILE).is_file():
                continue
            link = _symlink_in(d)
            if link:
                log.warning("run store %s: skipping run %s: %s is a symbolic link",
                            self.root, d.name, link)  # fmt: skip
                continue
            try:
                summary = json.loads((d / CONFIG_FILE).read_text())["summary"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            problem = _summary_problem(summary)
            if problem:
                log.warning("run store %s: skipping run %s: %s", self.root, d.name, problem)
                continue
            summary.update(name=d.name, path=str(d))
            out.append(summary)
        return sorted(out, key=lambda s: (s.get("created") or "", s["name"]), reverse=True)

    def save(self, run: Run) -> Path:
        """Save ``run`` under a new name (its own name if free, else with ``-2``, ``-3``, ...);
        returns the path. The name is reserved with ``mkdir``, so saves at the same moment, from
        any thread or process, never share a name, and no save replaces a run."""
        base = run.name if run.name and _NAME_OK.fullmatch(run.name) else run.default_name()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = _temp_dir(self.root, base)
        name, target = run.name, None
        try:
            _write_data(run, tmp)
            target = self._reserve(base)
            run.name = target.name
            _write_config(run, tmp)
            os.replace(tmp, target)  # onto the reserved folder, still empty
            _fsync(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if target is not None and target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            run.name = name
            raise
        run.path = target
        return target

    def _reserve(self, base: str) -> Path:
        """Create the empty folder of a new run: ``base``, else ``base-2``, ``base-3``, ..."""
        for i in itertools.count(1):
            path = self.root / (base if i == 1 else f"{base}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
        raise AssertionError("unreachable")

    def load(self, name: str) -> Run:
        """The run called ``name``; DataError for a run folder that is, or holds, a symbolic
        link (the store writes none: one could read or write outside the store)."""
        path = self._path(name)
        if not (path / CONFIG_FILE).is_file():
            raise DataError(f"no run named {name!r} in the run store: see RunStore.list()")
        link = _symlink_in(path)
        if link:
            raise DataError(
                f"run {name!r} is not loaded: {link} is a symbolic link, and the run store's "
                "folders hold none; copy the run into the store instead"
            )
        return load_run(path)

    def delete(self, name: str) -> None:
        """Remove the run called ``name`` from disk."""
        path = self._path(name)
        if not (path / CONFIG_FILE).is_file():
            raise DataError(f"no run named {name!r} in the run store: see RunStore.list()")
        trash = self.root / f".{name}.deleted-{uuid.uuid4().hex[:8]}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def recover(self) -> list[str]:
        """Clear what interrupted saves left behind (at a server's start-up); one line per
        folder handled.

        Temporary folders of processes that no longer run are removed, and so are empty run
        folders older than a minute (a reservation whose save died); a run that a crash left
        only as its hidden ``.old-*`` copy is restored, other ``.old-*`` and ``.deleted-*``
        folders are removed.
        """
        if not self.root.is_dir():
            return []
        done = []
        for path in sorted(self.root.iterdir()):
            hidden = path.name.startswith(".")
            line = self._clear_leftover(path) if hidden else self._clear_reservation(path)
            if line:
                done.append(line)
        return done + self._clear_journal_temps()

    def _clear_leftover(self, path: Path) -> str | None:
        """Restore or remove the hidden folder ``path`` that a dead process left (a
        temporary, ``.old-*`` or ``.deleted-*`` folder); what was done, or None."""
        found = _LEFTOVER.fullmatch(path.name)
        if found is None or not path.is_dir():
            return None
        if found["pid"] is not None and alive(int(found["pid"])):  # no pid: gone
            return None
        target = self.root / found["name"]
        if found["kind"] == "old" and not (target / CONFIG_FILE).exists():
            return self._restore(path, target)
        shutil.rmtree(path, ignore_errors=True)
        return f"removed {path.name}"

    @staticmethod
    def _restore(old: Path, target: Path) -> str | None:
        """Move the ``.old-*`` copy ``old`` back to ``target`` if that is free (or an empty
        folder); what was done, or None."""
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if target.exists():
            return None
        os.replace(old, target)
        return f"restored {target.name}"

    @staticmethod
    def _clear_reservation(path: Path) -> str | None:
        """Remove ``path`` if it is an empty run folder older than RESERVED_GRACE_S (a
        reservation whose save died); what was done, or None."""
        if (
            path.is_dir()
            and not any(path.iterdir())
            and time.time() - path.stat().st_mtime > RESERVED_GRACE_S
        ):
            path.rmdir()
            return f"removed empty {path.name}"
        return None

    def _clear_journal_temps(self) -> list[str]:
        """Remove the journal's temporary files that no live process holds."""
        journal = self.root / JOURNAL
        if not journal.is_dir():
            return []
        temps = sorted(journal.glob(".*.tmp"))
        return [f"removed {JOURNAL}/{p.name}" for p in temps if _take(p, remove=True) is not None]

    def journal(self, config: RunConfig) -> JournalEntry:
        """Record ``config`` as a job in flight until the entry is closed (whatever the job's
        outcome). The entry is locked by this process: one left behind by a process that died
        (a server killed mid-run) is :meth:`interrupted`."""
        return JournalEntry(self.root / JOURNAL, config)

    def interrupted(self) -> list[dict]:
        """Jobs journalled by processes that died before they ended, oldest first:
        ``{"token", "started", "config"}`` (``config``: ``RunConfig.to_dict()``)."""
        journal = self.root / JOURNAL
        if not journal.is_dir():
            return []
        entries = (_take(path, remove=False) for path in sorted(journal.glob("*.json")))
        return [e for e in entries if e is not None]

    def forget(self, token: str) -> dict | None:
        """Remove the interrupted job ``token`` from the journal and return its entry; None
        when it is gone already (started again or dismissed elsewhere) or still running."""
        if not _TOKEN_OK.fullmatch(token or ""):
            raise DataError(f"invalid job token {token!r}: use one from RunStore.interrupted()")
        return _take(self.root / JOURNAL / f"{token}.json", remove=True)


class JournalEntry:
    """A job in flight in a run store's journal: a JSON file this process holds locked
    (``flock``, released by the OS when the process dies, however it dies)."""

    def __init__(self, folder: Path, config: RunConfig) -> None:
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now()
        self.token = f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.path = folder / f"{self.token}.json"
        entry = {
            "token": self.token,
            "started": now.isoformat(timespec="seconds"),
            "config": config.to_dict(),
        }
        tmp = folder / f".{self.token}.tmp"
        self._fd: int | None = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.write(self._fd, json.dumps(jsonable(entry)).encode())
        os.fsync(self._fd)
        os.replace(tmp, self.path)
        _fsync(folder)

    def close(self) -> None:
        """The job is over: remove the entry (once)."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def _take(path: Path, remove: bool) -> dict | None:
    """The journal entry at ``path`` if no live process holds its lock (removed from disk when
    ``remove``, by one caller only), else None."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        text = path.read_text()
        if remove:
            path.unlink()
    except (BlockingIOError, FileNotFoundError):
        return None
    finally:
        os.close(fd)
    if path.suffix != ".json":
        return {}
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    written = (  # by JournalEntry: anything else is skipped, never shown
        isinstance(entry, dict)
        and isinstance(entry.get("token"), str)
        and isinstance(entry.get("config"), dict)
    )
    return entry if written else None
