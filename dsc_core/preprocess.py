"""Preprocessing: masks, smoothed seasonal cycle, per-variable normalisation, padding.

Input: an ``xr.Dataset`` as :func:`dsc_core.data.load` returns it, dims (time, latitude,
longitude) per variable plus an optional boolean ``mask`` (latitude, longitude). Output of
:meth:`Preprocessor.transform`: float32 (day, variable, y, x), zero-padded (centred) so that y and
x are multiples of ``pad_multiple``.

Seasonal cycle (``deseasonalize=True``): per grid cell and variable, the mean plus the first
``n_harmonics`` annual harmonics of the day-of-year phase ``2π (doy − 1) / year_length`` (365 or
366 days) are fitted by least squares, i.e. a *smoothed* daily climatology. ``n_harmonics="auto"``
(the default) fits one harmonic per full year of data, at most 3: with a single year, higher
harmonics (periods of 6 and 4 months) are pinned by that year's own weather and absorb part of the
regimes (measured on the sample: ARI of k-means 0.71–0.79 with 3 harmonics, 0.75–0.89 with 1).
A span shorter than 292 days (0.8 year) cannot pin an annual cycle: then only the mean is
removed, so that short selections are not overfitted.
Cells with too few finite days get no climatology (they are masked anyway).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core.blocks import read_blocks
from dsc_core.data import MIN_VALID_SHARE
from dsc_core.errors import ConfigError, DataError

DIMS = ("time", "latitude", "longitude")
_MIN_SPAN_DAYS = 292  # ~0.8 year: shorter spans get no annual harmonics (mean only)
_MAX_AUTO_HARMONICS = 3


def auto_harmonics(span_days: int) -> int:
    """Harmonics for ``n_harmonics="auto"``: one per full year spanned, at most 3, 0 if < 0.8 y."""
    if span_days < _MIN_SPAN_DAYS:
        return 0
    return int(min(_MAX_AUTO_HARMONICS, max(1, span_days // 365)))


def data_variables(ds: xr.Dataset) -> list[str]:
    """Names of the non-boolean data variables with dims (time, latitude, longitude)."""
    return [
        str(name)
        for name, da in ds.data_vars.items()
        if set(da.dims) == set(DIMS) and da.dtype != bool
    ]


def _check_dataset(ds: xr.Dataset) -> list[str]:
    if not isinstance(ds, xr.Dataset):
        raise DataError(f"expected an xarray.Dataset, got {type(ds).__name__}: load data first")
    missing = [d for d in DIMS if d not in ds.dims]
    if missing:
        raise DataError(f"data lack dimension(s) {missing}: need (time, latitude, longitude)")
    if any(ds.sizes[d] == 0 for d in DIMS):
        raise DataError("the data are empty (no days or no grid cells): widen the selection")
    names = data_variables(ds)
    if not names:
        raise DataError("the data have no variable on (time, latitude, longitude): choose one")
    return names


def _design(time: Any, harmonics: list[int]) -> np.ndarray:
    """float64 (day, 1 + 2 len(harmonics)): [1, cos(h φ), sin(h φ), ...] of the annual phase φ."""
    index = pd.DatetimeIndex(np.asarray(time))
    year_len = np.where(index.is_leap_year, 366.0, 365.0)
    phase = 2 * np.pi * (index.dayofyear.to_numpy() - 1) / year_len
    columns = [np.ones_like(phase)]
    for h in harmonics:
        columns += [np.cos(h * phase), np.sin(h * phase)]
    return np.stack(columns, axis=1)


def _coefficient_names(harmonics: list[int]) -> list[str]:
    return ["mean"] + [f"{f}{h}" for h in harmonics for f in ("cos", "sin")]


def _step_reporter(progress: Callable[[int, int], None] | None, total: int) -> Callable[[], None]:
    """A callable that reports the next of ``total`` steps to ``progress`` (if any)."""
    if progress is None:
        return lambda: None
    steps = itertools.count(1)
    return lambda: progress(next(steps), total)


def _valid_mask(ds: xr.Dataset, finite: dict[str, np.ndarray], n_days: int) -> np.ndarray:
    """bool (latitude, longitude): the cells valid in ``ds``'s own ``mask`` (if any) and finite
    on at least MIN_VALID_SHARE of the days in every variable; DataError if none is."""
    mask = np.ones(next(iter(finite.values())).shape, bool)
    if "mask" in ds:
        mask &= ds["mask"].transpose("latitude", "longitude").values.astype(bool)
    for v, count in finite.items():
        if not count.any():
            raise DataError(f"variable {v!r} is all NaN in the selection: drop it")
        mask &= count / n_days >= MIN_VALID_SHARE
    if not mask.any():
        raise DataError("no grid cell has valid data for every variable: drop a variable")
    return mask


class _HarmonicSums:
    """Least squares of the harmonics per cell, accumulated over blocks of days.

    ``add(design, values)``: design (day, coef), values (day, cell) with NaN. ``solve()``:
    coefficients (coef, cell); cells with fewer finite days than twice the number of
    coefficients get NaN. The normal equations are summed as matrix products (finite days
    only), so a block costs two GEMMs whatever the share of missing values.
    """

    def __init__(self, n_coef: int, n_cells: int) -> None:
        self.n_coef = n_coef
        self.gram = np.zeros((n_cells, n_coef * n_coef))
        self.rhs = np.zeros((n_cells, n_coef))
        self.count = np.zeros(n_cells)

    def add(self, design: np.ndarray, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        weight = finite.astype(np.float64)
        outer = np.einsum("tc,td->tcd", design, design).reshape(len(design), -1)
        self.gram += weight.T @ outer
        self.rhs += np.where(finite, values, 0.0).T @ design
        self.count += weight.sum(axis=0)

    def solve(self) -> np.ndarray:
        n_coef = self.n_coef
        enough = self.count >= 2 * n_coef
        coef = np.full((n_coef, len(self.count)), np.nan)
        if enough.any():
            gram = self.gram[enough].reshape(-1, n_coef, n_coef)
            coef[:, enough] = np.linalg.solve(gram, self.rhs[enough][..., None])[..., 0].T
        return coef


class _Moments:
    """Count, mean and population standard deviation of values streamed in blocks (sums
    shifted by the first block's mean, so that large offsets keep their precision)."""

    def __init__(self) -> None:
        self.shift: float | None = None
        self.n = self.s = self.ss = 0.0

    def add(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        if not len(values):
            return
        if self.shift is None:
            self.shift = float(values.mean())
        d = values - self.shift
        self.n += len(d)
        self.s += float(d.sum())
        self.ss += float((d * d).sum())

    def mean_std(self) -> tuple[float, float]:
        if not self.n:
            return float("nan"), float("nan")
        m = self.s / self.n
        return self.shift + m, math.sqrt(max(self.ss / self.n - m * m, 0.0))


class Preprocessor:
    """Stack, mask, (deseasonalise,) normalise and pad a dataset for the models.

    Fitted attributes: ``variables_`` (list[str]), ``mask_`` (bool (latitude, longitude), True =
    valid), ``mean_``/``std_`` (xr.DataArray on ``variable``), ``climatology_`` (xr.Dataset of
    harmonic coefficients (coefficient, latitude, longitude) per variable, when deseasonalize),
    ``harmonics_`` (list[int] used), ``padded_mask_`` (bool (y, x) matching transform's output).

    The defaults are a run's (:class:`dsc_core.run_config.RunConfig`): the seasonal cycle
    removed and cells weighted by area. ``area_weighting``: transform multiplies each cell's
    z-score by √cos(latitude) (scaled so that the valid cells' mean square weight is 1), so
    that squared distances and losses count each cell by its area: a high-latitude cell of a
    regular grid covers less of the Earth.
    ``clip``: z-scores beyond ±clip are set to ±clip (None: kept), so that rare extremes of
    heavy-tailed fields (surface fluxes) do not dominate distances and losses;
    ``inverse_transform`` cannot undo it.
    """

    def __init__(
        self,
        deseasonalize: bool = True,
        n_harmonics: int | str = "auto",
        pad_multiple: int = 16,
        area_weighting: bool = True,
        clip: float | None = None,
    ) -> None:
        self.deseasonalize = deseasonalize
        self.n_harmonics = n_harmonics
        self.pad_multiple = pad_multiple
        self.area_weighting = area_weighting
        self.clip = clip

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.n_harmonics != "auto" and (
            not isinstance(self.n_harmonics, int | np.integer) or self.n_harmonics < 0
        ):
            raise ConfigError(
                f"n_harmonics must be 'auto' or an integer >= 0, got {self.n_harmonics!r}"
            )
        if self.clip is not None and not self.clip > 0:
            raise ConfigError(
                f"clip must be a positive number of standard deviations, got {self.clip!r}"
            )
        if not isinstance(self.pad_multiple, int | np.integer) or self.pad_multiple < 1:
            raise ConfigError(f"pad_multiple must be an integer >= 1, got {self.pad_multiple!r}")

    def fit(
        self, ds: xr.Dataset, progress: Callable[[int, int], None] | None = None
    ) -> Preprocessor:
        """Learn mask, climatology (if deseasonalize) and per-variable mean/std from ``ds``,
        in two passes over blocks of days; ``progress(i, n)`` after each block."""
        self._check_params()
        self.__dict__.pop("mean_", None)  # a failed (re)fit leaves it unfitted
        names = _check_dataset(ds)
        n_days = ds.sizes["time"]
        if n_days < 2:
            raise DataError(f"too few days ({n_days}) to preprocess: select at least 2 days")
        self.variables_ = names
        self.latitude_ = np.asarray(ds["latitude"].values, dtype=np.float64)
        self.longitude_ = np.asarray(ds["longitude"].values, dtype=np.float64)
        self.attrs_ = {
            v: {k: str(ds[v].attrs[k]) for k in ("units", "long_name") if k in ds[v].attrs}
            for v in names
        }
        time = pd.DatetimeIndex(ds["time"].values)
        self.harmonics_ = self._harmonics(time)
        n_coef = 1 + 2 * len(self.harmonics_)
        if n_days < 2 * n_coef:  # deseasonalising only: otherwise n_coef is 1
            raise DataError(
                f"too few days ({n_days}) to fit a seasonal cycle with {n_coef} terms: "
                f"select at least {2 * n_coef} days or turn deseasonalize off"
            )

        day_bytes = 8 * len(names) * ds.sizes["latitude"] * ds.sizes["longitude"]
        blocks = read_blocks(ds, day_bytes)
        step = _step_reporter(progress, 2 * len(blocks))
        finite, sums = self._count_and_sum(blocks, time, step)
        self.mask_ = _valid_mask(ds, finite, n_days)
        self.climatology_ = None
        if self.deseasonalize:
            dims = ("coefficient", "latitude", "longitude")
            shape = self.mask_.shape
            coefs = {v: (dims, sums[v].solve().reshape(-1, *shape)) for v in names}
            self.climatology_ = self._climatology_dataset(coefs)
        self.mean_, self.std_ = self._anomaly_moments(read_blocks(ds, day_bytes), step)
        return self

    def _harmonics(self, time: pd.DatetimeIndex) -> list[int]:
        """The annual harmonics to fit on the days ``time``: none without deseasonalising,
        nor on a span too short to pin an annual cycle."""
        if not self.deseasonalize:
            return []
        span = (time.max() - time.min()).days + 1
        if self.n_harmonics == "auto":
            n_harmonics = auto_harmonics(span)
        else:
            n_harmonics = self.n_harmonics if span >= _MIN_SPAN_DAYS else 0
        return list(range(1, n_harmonics + 1))

    def _count_and_sum(
        self, blocks: list, time: pd.DatetimeIndex, step: Callable[[], None]
    ) -> tuple[dict[str, np.ndarray], dict[str, _HarmonicSums]]:
        """First pass: the finite days per cell of each variable and, when deseasonalising,
        its harmonics' least-squares sums."""
        shape = (len(self.latitude_), len(self.longitude_))
        n_coef = 1 + 2 * len(self.harmonics_)
        finite = {v: np.zeros(shape) for v in self.variables_}
        sums = {}
        if self.deseasonalize:
            sums = {v: _HarmonicSums(n_coef, shape[0] * shape[1]) for v in self.variables_}
        for block, read in blocks:
            step()
            part = read()
            design = _design(time[block], self.harmonics_) if self.deseasonalize else None
            for v in self.variables_:
                values = self._values(part, v)
                finite[v] += np.isfinite(values).sum(axis=0)
                if self.deseasonalize:
                    sums[v].add(design, values.reshape(len(values), -1))
        return finite, sums

    def _anomaly_moments(
        self, blocks: list, step: Callable[[], None]
    ) -> tuple[xr.DataArray, xr.DataArray]:
        """Second pass: the mean and standard deviation of each variable's anomalies over the
        valid cells (on ``variable``); DataError for a constant variable."""
        moments = {v: _Moments() for v in self.variables_}
        for _, read in blocks:
            step()
            anomalies = self.anomalies(read())
            for v in self.variables_:
                moments[v].add(self._values(anomalies, v)[:, self.mask_])
        means, stds = [], []
        for v in self.variables_:
            mean, std = moments[v].mean_std()
            if not np.isfinite(std) or std == 0:
                raise DataError(f"variable {v!r} is constant over the valid cells: drop it")
            means.append(mean)
            stds.append(std)
        coords = {"variable": self.variables_}
        return (
            xr.DataArray(means, dims="variable", coords=coords),
            xr.DataArray(stds, dims="variable", coords=coords),
        )

    def _climatology_dataset(self, coefs: dict[str, Any]) -> xr.Dataset:
        return xr.Dataset(
            coefs,
            coords={
                "coefficient": _coefficient_names(self.harmonics_),
                "latitude": self.latitude_,
                "longitude": self.longitude_,
            },
            attrs={"harmonics": list(self.harmonics_)},
        )

    @staticmethod
    def _values(ds: xr.Dataset, name: str) -> np.ndarray:
        """float64 (time, latitude, longitude) values of one variable (computes dask arrays)."""
        return np.asarray(ds[name].transpose(*DIMS).values, dtype=np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise ConfigError("this Preprocessor is not fitted yet: call fit(ds) first")

    def _check_grid(self, ds: xr.Dataset) -> None:
        missing = [v for v in self.variables_ if v not in ds]
        if missing:
            raise DataError(f"data lack the fitted variable(s) {missing}: select the same ones")
        lat, lon = ds["latitude"].values, ds["longitude"].values
        if (
            lat.shape != self.latitude_.shape
            or lon.shape != self.longitude_.shape
            or not (np.allclose(lat, self.latitude_) and np.allclose(lon, self.longitude_))
        ):
            raise DataError(
                "the data's grid differs from the fitted one: use the same box and grid"
            )

    # ------------------------------------------------------------------ transforms
    def seasonal_cycle(self, time: Any, chunks: tuple[int, ...] | None = None) -> xr.Dataset:
        """The fitted climatology evaluated on dates ``time``: (time, latitude, longitude);
        lazy (dask) in ``chunks`` of days when given."""
        if getattr(self, "climatology_", None) is None:
            if not hasattr(self, "mask_"):
                raise ConfigError("this Preprocessor is not fitted yet: call fit(ds) first")
            raise ConfigError(
                "no seasonal cycle: the Preprocessor was fitted without deseasonalize"
            )
        design = xr.DataArray(
            _design(time, self.harmonics_),
            dims=("time", "coefficient"),
            coords={"time": np.asarray(time), "coefficient": self.climatology_["coefficient"]},
        )
        if chunks is not None:
            design = design.chunk({"time": chunks})
        clim = self.climatology_
        cycles = {v: xr.dot(design, clim[v], dim="coefficient") for v in self.variables_}
        return xr.Dataset(cycles).transpose(*DIMS)

    def anomalies(self, ds: xr.Dataset) -> xr.Dataset:
        """Physical units: ``ds`` minus the climatology (or ``ds`` itself), float32, with ``mask``.

        Lazy for dask-backed input. Dims (time, latitude, longitude); other coordinates kept.
        """
        if not hasattr(self, "mask_"):
            raise ConfigError("this Preprocessor is not fitted yet: call fit(ds) first")
        self._check_grid(ds)
        out = ds[self.variables_].transpose(*DIMS)
        if self.climatology_ is not None:
            chunks = out[self.variables_[0]].variable.chunksizes.get("time")  # None: NumPy-backed
            clim = self.seasonal_cycle(ds["time"].values, chunks).assign_coords(
                latitude=ds["latitude"], longitude=ds["longitude"], time=ds["time"]
            )
            out = out - clim
        out = out.astype(np.float32)
        for v in self.variables_:
            out[v].attrs = dict(ds[v].attrs)
        out["mask"] = (("latitude", "longitude"), self.mask_)
        out.attrs = dict(ds.attrs)
        return out

    def _padding(self) -> tuple[int, int, int, int]:
        """(top, ny, left, nx) offsets of the data inside the padded grid."""
        ny, nx = self.mask_.shape
        m = int(self.pad_multiple)
        return (math.ceil(ny / m) * m - ny) // 2, ny, (math.ceil(nx / m) * m - nx) // 2, nx

    def _padded_shape(self) -> tuple[int, int]:
        m = int(self.pad_multiple)
        return tuple(math.ceil(n / m) * m for n in self.mask_.shape)  # type: ignore[return-value]

    @property
    def padded_mask_(self) -> np.ndarray:
        """bool (y, x): the valid cells inside transform's padded grid."""
        self._check_fitted()
        top, ny, left, nx = self._padding()
        padded = np.zeros(self._padded_shape(), bool)
        padded[top : top + ny, left : left + nx] = self.mask_
        return padded

    def cell_weights(self) -> np.ndarray:
        """float64 (latitude, longitude): transform's factor per cell, √cos(latitude) scaled
        to a mean square of 1 over the valid cells (all 1 without ``area_weighting``)."""
        self._check_fitted()
        if not self.area_weighting:
            return np.ones(self.mask_.shape)
        cos = np.clip(np.cos(np.deg2rad(self.latitude_)), 0.0, None)[:, None]
        cos = np.broadcast_to(cos, self.mask_.shape)
        return np.sqrt(cos / cos[self.mask_].mean())

    def transform(
        self, ds: xr.Dataset, out: Any = None, progress: Callable[[int, int], None] | None = None
    ) -> Any:
        """float32 (day, variable, y, x): z-scored (anomalies), area-weighted if asked,
        invalid cells 0, padded. Computed in blocks of days; ``out``: an array of that shape
        to write into (a NumPy or Zarr array; None: a new NumPy array), returned;
        ``progress(i, n)`` after each block."""
        self._check_fitted()
        _check_dataset(ds)
        self._check_grid(ds)
        shape = (ds.sizes["time"], len(self.variables_), *self._padded_shape())
        if out is None:
            out = np.zeros(shape, np.float32)
        elif tuple(out.shape) != shape:
            raise DataError(f"out has shape {tuple(out.shape)}, transform writes {shape}")
        top, ny, left, nx = self._padding()
        weights = self.cell_weights()
        blocks = read_blocks(ds, 8 * len(self.variables_) * ny * nx)
        for step, (block, read) in enumerate(blocks, 1):
            anomalies = self.anomalies(read())
            days = np.zeros((block.stop - block.start, *shape[1:]), np.float32)
            for i, v in enumerate(self.variables_):
                z = (self._values(anomalies, v) - float(self.mean_[i])) / float(self.std_[i])
                if self.clip is not None:
                    np.clip(z, -self.clip, self.clip, out=z)
                z *= weights
                z[:, ~self.mask_] = 0.0
                days[:, i, top : top + ny, left : left + nx] = np.nan_to_num(z, nan=0.0)
            out[block] = days
            if progress is not None:
                progress(step, len(blocks))
        return out

    def fit_transform(self, ds: xr.Dataset) -> np.ndarray:
        """``fit(ds)`` then ``transform(ds)``."""
        return self.fit(ds).transform(ds)

    def inverse_transform(self, x: np.ndarray) -> xr.Dataset:
        """Back to physical units (anomaly units when deseasonalize), cropped, masked cells NaN.

        ``x``: (day, variable, y, x) or one map (variable, y, x), padded as transform's output
        (or already cropped to the data grid). Returns dims (time, latitude, longitude), or
        (latitude, longitude) for one map; ``time`` carries no dates, only positions.
        """
        self._check_fitted()
        x = np.asarray(x)
        single = x.ndim == 3
        if single:
            x = x[None]
        top, ny, left, nx = self._padding()
        n_var = len(self.variables_)
        if x.ndim != 4 or x.shape[1] != n_var:
            raise DataError(f"expected an array (day, {n_var}, y, x), got shape {x.shape}")
        if x.shape[2:] == self._padded_shape():
            x = x[:, :, top : top + ny, left : left + nx]
        elif x.shape[2:] != (ny, nx):
            raise DataError(f"array maps are {x.shape[2:]}, expected {self._padded_shape()}")
        data_vars = {}
        weights = self.cell_weights()
        for i, v in enumerate(self.variables_):
            values = x[:, i].astype(np.float64) / weights * float(self.std_[i]) + float(
                self.mean_[i]
            )
            values[:, ~self.mask_] = np.nan
            values = values.astype(np.float32)
            if single:
                data_vars[v] = (("latitude", "longitude"), values[0], self.attrs_[v])
            else:
                data_vars[v] = (DIMS, values, self.attrs_[v])
        data_vars["mask"] = (("latitude", "longitude"), self.mask_)
        coords = {"latitude": self.latitude_, "longitude": self.longitude_}
        return xr.Dataset(data_vars, coords=coords)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings and fitted statistics (lists and floats; NaN written as None)."""
        self._check_fitted()
        d: dict[str, Any] = {
            "deseasonalize": bool(self.deseasonalize),
            "n_harmonics": self.n_harmonics
            if self.n_harmonics == "auto"
            else int(self.n_harmonics),
            "pad_multiple": int(self.pad_multiple),
            "area_weighting": bool(self.area_weighting),
            "clip": None if self.clip is None else float(self.clip),
            "variables": list(self.variables_),
            "attrs": self.attrs_,
            "latitude": self.latitude_.tolist(),
            "longitude": self.longitude_.tolist(),
            "mask": self.mask_.astype(int).tolist(),
            "mean": [float(m) for m in self.mean_.values],
            "std": [float(s) for s in self.std_.values],
            "harmonics": list(self.harmonics_),
            "climatology": None,
        }
        if self.climatology_ is not None:
            d["climatology"] = {
                v: np.where(np.isnan(c := self.climatology_[v].values), None, c).tolist()
                for v in self.variables_
            }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """Re-create a fitted Preprocessor from :meth:`to_dict` output."""
        try:
            weighting = bool(d.get("area_weighting", False))  # runs saved before it existed
            pre = cls(d["deseasonalize"], d["n_harmonics"], d["pad_multiple"], weighting,
                      d.get("clip"))  # fmt: skip
            pre.variables_ = list(d["variables"])
            pre.attrs_ = {v: dict(a) for v, a in d["attrs"].items()}
            pre.latitude_ = np.asarray(d["latitude"], np.float64)
            pre.longitude_ = np.asarray(d["longitude"], np.float64)
            pre.mask_ = np.asarray(d["mask"], dtype=bool)
            coord = {"variable": pre.variables_}
            pre.mean_ = xr.DataArray(
                np.asarray(d["mean"], np.float64), dims="variable", coords=coord
            )
            pre.std_ = xr.DataArray(np.asarray(d["std"], np.float64), dims="variable", coords=coord)
            pre.harmonics_ = [int(h) for h in d["harmonics"]]
            pre.climatology_ = None
            if d["climatology"] is not None:
                coefs = {
                    v: (
                        ("coefficient", "latitude", "longitude"),
                        np.asarray(d["climatology"][v], dtype=np.float64),
                    )
                    for v in pre.variables_
                }
                pre.climatology_ = pre._climatology_dataset(coefs)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(
                f"saved preprocessing statistics are incomplete ({err}): refit"
            ) from None
        return pre


def paper_features(ds: xr.Dataset, mask: Any = None) -> np.ndarray:
    """float64 (day, features): the paper's metric input.

    The valid cells (``mask`` (latitude, longitude), True = valid; default ``ds["mask"]`` or
    everywhere) of every data variable, flattened variable by variable, each feature min-max
    scaled to [0, 1] (a constant feature becomes 0; a missing value its feature's minimum, 0).
    """
    names = _check_dataset(ds)
    if mask is None:
        mask = (
            ds["mask"] if "mask" in ds else np.ones((ds.sizes["latitude"], ds.sizes["longitude"]))
        )
    if isinstance(mask, xr.DataArray):
        mask = mask.transpose("latitude", "longitude").values
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (ds.sizes["latitude"], ds.sizes["longitude"]):
        raise DataError(f"mask shape {mask.shape} does not match the grid: use the data's mask")
    features = np.concatenate(
        [np.asarray(ds[v].transpose(*DIMS).values, np.float64)[:, mask] for v in names], axis=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN features
        low = np.nanmin(features, axis=0)
        span = np.nanmax(features, axis=0) - low
    scaled = (features - low) / np.where(span > 0, span, 1.0)
    scaled[:, ~(span > 0)] = 0.0
    return np.nan_to_num(scaled, nan=0.0)
