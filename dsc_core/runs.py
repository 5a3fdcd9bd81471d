"""Runs: the result of one clustering, its directory on disk, and a store of runs.

A run directory holds (no pickle anywhere)::

    config.json      name, creation time, run settings, summary; written last
    labels.csv       time,cluster: one row per day
    metrics.json     internal / truth / regime scores, reference k-means, timings
    latent.nc        latent (time, latent), soft (time, cluster)
    composites.nc    cluster composites (see dsc_core.composites)
    fields.nc        the physical fields the run used (anomalies if deseasonalised) + mask
    history.csv      the training history, one row per epoch (may be empty)
    preprocessor.json the preprocessing statistics (when known)
    model/           the fitted estimator's own save() (estimators that have one)

:func:`save_run` writes into a hidden temporary directory next to the target and renames it
into place, so a crash never leaves a directory that looks complete: a run directory is
complete when it has ``config.json`` (the last file written before the rename).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core import __version__
from dsc_core.composites import prepare
from dsc_core.errors import DataError
from dsc_core.pipeline import RunConfig

CONFIG_FILE = "config.json"
SUMMARY_SCORES = ("silhouette_cosine", "davies_bouldin", "rmse")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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


def _load_estimator(path: Path) -> Any:
    """The estimator saved in ``path`` by its own ``save``: the class named in its
    ``config.json`` ("estimator"), looked up in :mod:`dsc_core.baselines`, then ``load``."""
    from dsc_core import baselines
    from dsc_core.estimator import DSC

    name = json.loads((path / "config.json").read_text()).get("estimator")
    cls = DSC if name == "DSC" else getattr(baselines, str(name), None)
    if cls is None or not hasattr(cls, "load"):
        raise DataError(f"{path} holds a {name!r} model that cannot be loaded: re-run it")
    return cls.load(path)


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

    @property
    def model(self) -> Any:
        """The fitted estimator; loaded lazily from the run directory."""
        if self.estimator is None:
            if self.path is None or not (Path(self.path) / "model").is_dir():
                raise DataError("this run has no saved model: save the run or re-run it")
            self.estimator = _load_estimator(Path(self.path) / "model")
        return self.estimator

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


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    encoding = {
        v: {"zlib": True, "complevel": 1}
        for v in ds.data_vars
        if np.issubdtype(ds[v].dtype, np.floating)
    }
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding)


def _write_contents(run: Run, tmp: Path) -> None:
    """Every file of the run directory, ``config.json`` last."""
    model_src = None if run.path is None else Path(run.path) / "model"
    times = pd.DatetimeIndex(run.labels["time"].values)
    pd.DataFrame({"time": times.strftime("%Y-%m-%d"), "cluster": run.labels.values}).to_csv(
        tmp / "labels.csv", index=False
    )
    (tmp / "metrics.json").write_text(json.dumps(jsonable(run.metrics), indent=1, allow_nan=False))
    _write_netcdf(xr.Dataset({"latent": run.latent, "soft": run.soft}), tmp / "latent.nc")
    _write_netcdf(run.composites, tmp / "composites.nc")
    _write_netcdf(run.fields, tmp / "fields.nc")
    run.history.to_csv(tmp / "history.csv", index=False)
    if run.preprocessor is not None:
        (tmp / "preprocessor.json").write_text(json.dumps(jsonable(run.preprocessor)))
    if run.estimator is not None and hasattr(run.estimator, "save"):
        run.estimator.save(tmp / "model")
    elif model_src is not None and model_src.is_dir():
        shutil.copytree(model_src, tmp / "model")
    config = {
        "name": run.name,
        "created": run.created,
        "dsc_version": __version__,
        "config": run.config.to_dict(),
        "summary": {k: v for k, v in run.summary().items() if k != "path"},
    }
    (tmp / CONFIG_FILE).write_text(json.dumps(jsonable(config), indent=1, allow_nan=False))


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
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_contents(run, tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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
    loaded on first use of ``run.model``)."""
    directory = Path(directory).absolute()
    meta = _read_config(directory)
    labels_df = pd.read_csv(directory / "labels.csv", parse_dates=["time"])
    labels = xr.DataArray(
        labels_df["cluster"].to_numpy(np.int64),
        dims="time",
        coords={"time": labels_df["time"].to_numpy("datetime64[ns]")},
        name="cluster",
    )
    latent = xr.load_dataset(directory / "latent.nc")
    history_path = directory / "history.csv"
    history = pd.read_csv(history_path) if history_path.stat().st_size > 1 else pd.DataFrame()
    pre_path = directory / "preprocessor.json"
    fields = xr.load_dataset(directory / "fields.nc")
    prepare(fields)  # the dashboard's first selection composite is then fast
    return Run(
        config=RunConfig.from_dict(meta["config"]),
        labels=labels,
        latent=latent["latent"],
        soft=latent["soft"],
        composites=xr.load_dataset(directory / "composites.nc"),
        metrics=json.loads((directory / "metrics.json").read_text()),
        history=history,
        fields=fields,
        name=meta.get("name") or directory.name,
        path=directory,
        created=meta.get("created", ""),
        preprocessor=json.loads(pre_path.read_text()) if pre_path.is_file() else None,
    )


class RunStore:
    """A folder of run directories, one per run, named ``YYYYmmdd-HHMMSS-<method>-k<K>``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def _path(self, name: str) -> Path:
        if not _NAME_OK.match(name or ""):
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
            try:
                summary = json.loads((d / CONFIG_FILE).read_text())["summary"]
            except (ValueError, KeyError):
                continue
            summary.update(name=d.name, path=str(d))
            out.append(summary)
        return sorted(out, key=lambda s: (s.get("created") or "", s["name"]), reverse=True)

    def save(self, run: Run) -> Path:
        """Save ``run`` under a new unique name (its own name if free); returns the path."""
        base = run.name if run.name and _NAME_OK.match(run.name) else run.default_name()
        name, i = base, 1
        while (self.root / name).exists():
            i += 1
            name = f"{base}-{i}"
        run.name = name
        return save_run(run, self.root / name)

    def load(self, name: str) -> Run:
        """The run called ``name``."""
        path = self._path(name)
        if not (path / CONFIG_FILE).is_file():
            raise DataError(f"no run named {name!r} in {self.root}: see RunStore.list()")
        return load_run(path)

    def delete(self, name: str) -> None:
        """Remove the run called ``name`` from disk."""
        path = self._path(name)
        if not (path / CONFIG_FILE).is_file():
            raise DataError(f"no run named {name!r} in {self.root}: see RunStore.list()")
        trash = self.root / f".{name}.deleted-{uuid.uuid4().hex[:8]}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
