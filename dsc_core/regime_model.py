"""Regimes of an xarray object in one call, the way xeofs does EOFs.

    model = dsc_core.Regimes(n_clusters=4, months="DJF").fit(ds, dim="time")
    model.labels_           # DataArray (time,): the regime of every day
    model.probabilities_    # DataArray (time, cluster): the model's soft assignment
    model.composites_       # Dataset (cluster, variable, latitude, longitude): mean,
                            # anomaly, significant; count and frequency per cluster
    model.predict(new_ds)   # DataArray (time,): new days labelled with the fitted model

``data`` is an ``xr.Dataset`` of gridded variables or an ``xr.DataArray`` (one variable, or
several stacked on a ``variable`` dimension), with its time dimension named by ``dim``;
latitude and longitude are found by their CF names (``lat``/``lon`` too). The preprocessing
runs inside: the seasonal cycle removed, √cos(latitude) area weights, cells that are never
valid masked, the months kept, windows stopped at the gaps between seasons. Every result is
labelled with the input's coordinates. The fit is :func:`dsc_core.pipeline.run`, so a model's
``run_`` is a :class:`dsc_core.runs.Run` that saves, reports and opens in the app like any
other (:meth:`save`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from dsc_core.errors import ConfigError


class Regimes(BaseEstimator):
    """Cluster the days of gridded data into ``n_clusters`` regimes (module doc).

    method: DSC (default) or a baseline of ``dsc_core.METHODS``. months: the months to
    cluster ("DJF", "MAM", … or a list of numbers; None: all). window, preset, params: the
    deep network's (see :class:`dsc_core.DSC`). level: the vertical level of data that have
    several. bbox: (lat_min, lat_max, lon_min, lon_max). min_spell: shorter spells join a
    neighbouring regime. check_stability, surrogates: the optional checks of
    :class:`dsc_core.pipeline.RunConfig`. random_state: the seed.

    Learned: ``labels_``, ``probabilities_``, ``latent_`` (time, latent), ``composites_``,
    ``scores_`` (the paper's internal scores), ``warnings_`` (plain sentences: when they are
    not empty, the clusters may not be real) and ``run_``.
    """

    def __init__(
        self,
        n_clusters: int = 4,
        method: str = "dsc",
        *,
        months: str | Sequence[int] | None = None,
        window: int | None = None,
        level: float | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        deseasonalize: bool = True,
        area_weighting: bool = True,
        min_spell: int = 1,
        preset: str = "default",
        params: dict | None = None,
        check_stability: bool = False,
        surrogates: int = 0,
        memory_budget: float = 0.25,
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.method = method
        self.months = months
        self.window = window
        self.level = level
        self.bbox = bbox
        self.deseasonalize = deseasonalize
        self.area_weighting = area_weighting
        self.min_spell = min_spell
        self.preset = preset
        self.params = params
        self.check_stability = check_stability
        self.surrogates = surrogates
        self.memory_budget = memory_budget
        self.device = device
        self.random_state = random_state

    def run_config(self):
        """The :class:`dsc_core.pipeline.RunConfig` of these settings, validated."""
        from dsc_core.data.calendar import parse_months
        from dsc_core.pipeline import RunConfig

        return RunConfig(
            clusters=self.n_clusters,
            method=self.method,
            months=parse_months(self.months),
            window=self.window,
            level=self.level,
            bbox=tuple(self.bbox) if self.bbox is not None else None,
            deseasonalize=self.deseasonalize,
            area_weighting=self.area_weighting,
            min_spell=self.min_spell,
            preset=self.preset,
            params=dict(self.params or {}),
            check_stability=self.check_stability,
            surrogates=self.surrogates,
            memory_budget=self.memory_budget,
            device=self.device,
            seed=self.random_state,
        ).validate()

    def fit(
        self, data: xr.Dataset | xr.DataArray, dim: str = "time", callbacks: Iterable[Callable] = ()
    ) -> Regimes:
        """Fit on ``data`` along its time dimension ``dim``; ``callbacks`` hear the training's
        events (:class:`dsc_core.training.Event`; raising ``Cancelled`` stops)."""
        from dsc_core.pipeline import run

        self.dim_ = dim
        self.run_ = run(self.run_config(), callbacks=callbacks, data=as_dataset(data, dim))
        self.labels_ = self._on_dim(self.run_.labels)
        self.probabilities_ = self._on_dim(self.run_.soft)
        self.latent_ = self._on_dim(self.run_.latent)
        self.composites_ = self.run_.composites
        self.scores_ = dict(self.run_.metrics.get("internal", {}))
        self.warnings_ = list(self.run_.metrics.get("trust", {}).get("warnings", []))
        return self

    def fit_predict(self, data: xr.Dataset | xr.DataArray, dim: str = "time") -> xr.DataArray:
        """``fit(data, dim).labels_``."""
        return self.fit(data, dim).labels_

    def predict(self, data: xr.Dataset | xr.DataArray, dim: str | None = None) -> xr.DataArray:
        """The regime of each day of new ``data`` (same variables, grid and units), read with
        the fitted box and months and preprocessed with the fitted climatology; int64 on its
        time dimension ``dim`` (default: the fit's)."""
        check_is_fitted(self, "run_")
        dim = dim or self.dim_
        return self._on_dim(self.run_.assign(as_dataset(data, dim)), dim)

    def save(self, folder: str | Path) -> Path:
        """Save the fitted run to ``folder`` (a new directory): the app, ``dsc report`` and
        :func:`dsc_core.runs.load_run` open it."""
        from dsc_core.runs import save_run

        check_is_fitted(self, "run_")
        return save_run(self.run_, folder)

    def _on_dim(self, result: xr.DataArray, dim: str | None = None) -> xr.DataArray:
        dim = dim or self.dim_
        return result if dim == "time" else result.rename(time=dim)


def as_dataset(data: Any, dim: str = "time") -> xr.Dataset:
    """``data`` as a Dataset of variables on a ``time`` dimension (module doc); ConfigError
    naming what is wrong."""
    if isinstance(data, xr.DataArray):
        if "variable" in data.dims:
            data = data.to_dataset(dim="variable")
        else:
            data = data.to_dataset(name=data.name if data.name is not None else "field")
    if not isinstance(data, xr.Dataset):
        raise ConfigError(
            f"Regimes fit xarray data, got {type(data).__name__}: pass an xr.Dataset or "
            "xr.DataArray (or use dsc_core.DSC for arrays)"
        )
    if dim not in data.dims:
        raise ConfigError(
            f"the data have no dimension {dim!r} (dimensions: {', '.join(map(str, data.dims))}): "
            "name the time dimension with dim="
        )
    if dim != "time":
        if "time" in data.variables:
            data = data.drop_vars("time")
        data = data.rename({dim: "time"})
    return data
