"""Composite maps of groups of days: mean, anomaly against the whole period, significance.

``fields`` is an ``xr.Dataset`` with one data variable per field on (time, latitude,
longitude), in physical units (anomalies when the run was deseasonalised), plus a boolean
``mask`` (latitude, longitude), True where valid. NaN values are left out cell by cell.

Significance, per cell, of the group's days against all other days: Welch's unequal-variance
t-test (the statistic of ``scipy.stats.ttest_ind(a, b, equal_var=False)``, computed from
per-cell sums so that a selection of days costs one pass over the data) with each sample's
size replaced by its effective size n·(1 − r₁)/(1 + r₁), r₁ the cell's lag-1
autocorrelation over consecutive days (day-to-day persistence makes neighbouring days
nearly copies of each other). With ``test="fdr"`` (the default) the p-values of each map
(group × variable) are then held to a false discovery rate ``alpha`` (Benjamini–Hochberg;
Wilks 2016 recommends α_FDR = 0.1 for a global 0.05 test), so that a map of noise is not
covered in stipples by the sheer number of cells; ``test="local"`` keeps every cell with
p < ``alpha``. Clusters found in the same data still differ more than a fixed grouping
would: stippling says where a cluster's mean is distinct, not that the clusters are real
(the run's k-means reference and seed agreement speak to that).
"""

from __future__ import annotations

import weakref

import numpy as np
import xarray as xr

from dsc_core.errors import DataError

SPATIAL_DIMS = ("latitude", "longitude")


class _Stack:
    """The fields flattened to (time, cell) float32, centred on each cell's whole-period mean.

    A cell is one (variable, latitude, longitude). Centring (in float64) keeps the sums of
    squares accurate for fields with a large offset (surface pressure in Pa). Masked and NaN
    values are 0 in ``xx`` and counted out through ``finite`` (None when no value is missing
    apart from masked cells).
    """

    def __init__(self, fields: xr.Dataset):
        variables, self.units, self.coords, valid = _describe(fields)
        self.variables = variables
        n_time, n_lat, n_lon = fields[variables[0]].shape
        self.n_time = n_time
        self.shape = (len(variables), n_lat, n_lon)
        n_var = len(variables)
        x = np.empty((n_time, n_var, n_lat, n_lon), dtype=np.float32)
        finite = np.empty(x.shape, dtype=bool)
        mean = np.empty((n_var, n_lat, n_lon))
        for i, v in enumerate(variables):
            xi = np.where(valid, np.asarray(fields[v].values, dtype=np.float64), np.nan)
            fi = np.isfinite(xi)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean[i] = np.where(fi, xi, 0.0).sum(axis=0) / fi.sum(axis=0)
            x[:, i] = np.where(fi, xi - mean[i], 0.0)
            finite[:, i] = fi
        self.mean = mean.reshape(-1)  # (cell,) whole-period mean, NaN where never valid
        x = x.reshape(n_time, -1)
        self.inflation = _inflation(*_lag_sums(x, fields["time"].values))
        # centred values and their squares side by side: one matrix product per selection
        self.xx = np.concatenate([x, x * x], axis=1)
        self.n_cells = x.shape[1]
        finite = finite.reshape(n_time, -1)
        self.n = finite.sum(axis=0)  # (cell,)
        # where every valid cell is finite on every day, the count of a selection is its size
        self.finite = None if np.all(finite == finite[:1]) else finite.astype(np.float32)
        sums = self.xx.sum(axis=0, dtype=np.float64)
        self.s, self.ss = sums[: self.n_cells], sums[self.n_cells :]

    def composite(self, weights: np.ndarray, alpha: float, test: str) -> tuple[np.ndarray, ...]:
        """Composites of groups of days; weights: float32 (group, time), 1 where selected.

        Returns mean, anomaly, significant (group, variable, lat, lon) and count (group,).
        """
        size = weights.sum(axis=1, dtype=np.float64)[:, None]
        if self.finite is None:
            n1 = np.where(self.n > 0, size, 0.0)
        else:
            n1 = (weights @ self.finite).astype(np.float64)
        sums = (weights @ self.xx).astype(np.float64)
        return _welch(self, size, n1, sums[:, : self.n_cells], sums[:, self.n_cells :], alpha, test)


def _welch(st, size, n1, s1, ss1, alpha: float, test: str) -> tuple[np.ndarray, ...]:
    """The composites and their test from sums: ``st`` holds the whole period's per-cell
    ``n``, ``s``, ``ss`` (centred), ``mean``, ``inflation`` and ``shape``; ``size`` (group, 1),
    ``n1``, ``s1``, ``ss1`` (group, cell) the groups' day counts and sums."""
    from scipy import stats  # ~1 s to import: only once a composite is computed

    n2, s2, ss2 = st.n - n1, st.s - s1, st.ss - ss1
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m2 = s1 / n1, s2 / n2
        v1 = np.maximum(ss1 - n1 * m1**2, 0) / (n1 - 1)
        v2 = np.maximum(ss2 - n2 * m2**2, 0) / (n2 - 1)
        e1, e2 = n1 / st.inflation, n2 / st.inflation  # effective sample sizes
        se1, se2 = v1 / e1, v2 / e2
        se = se1 + se2
        t = (m1 - m2) / np.sqrt(se)
        df = se**2 / (se1**2 / (e1 - 1) + se2**2 / (e2 - 1))
    ok = (e1 >= 2) & (e2 >= 2) & (se > 0)
    p = np.ones(t.shape)
    p[ok] = 2 * stats.t.sf(np.abs(t[ok]), df[ok])
    shape = (len(size), *st.shape)
    p, ok = p.reshape(shape), ok.reshape(shape)
    significant = fdr(p, ok, alpha) if test == "fdr" else ok & (p < alpha)
    anomaly = np.where(n1 > 0, m1, np.nan)
    return (
        (anomaly + st.mean).reshape(shape),
        anomaly.reshape(shape),
        significant,
        size[:, 0].round().astype(np.int64),
    )


class _StreamedSums:
    """What :func:`_welch` needs for fixed groups of days, read from ``fields`` in blocks of
    days (two passes: the per-cell mean, then the centred sums), so that fields larger than
    memory (dask-backed) cost a block at a time. ``weights`` float32 (group, time)."""

    def __init__(self, fields: xr.Dataset, weights: np.ndarray) -> None:
        from dsc_core.blocks import read_blocks

        self.variables, self.units, self.coords, valid = _describe(fields)
        n_time, n_lat, n_lon = fields[self.variables[0]].shape
        self.n_time, self.shape = n_time, (len(self.variables), n_lat, n_lon)
        day_bytes = 8 * int(np.prod(self.shape))
        total, count = np.zeros(self.shape), np.zeros(self.shape)
        for _, read in read_blocks(fields, day_bytes):
            x, finite = self._values(read(), valid)
            total += np.where(finite, x, 0.0).sum(axis=0)
            count += finite.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = (total / count).reshape(-1)
        cells = self.mean.size
        self.n, self.s, self.ss = np.zeros(cells), np.zeros(cells), np.zeros(cells)
        k = len(weights)
        self.n1, self.s1, self.ss1 = (
            np.zeros((k, cells)),
            np.zeros((k, cells)),
            np.zeros((k, cells)),
        )
        lag = np.zeros((4, cells))
        time = np.asarray(fields["time"].values, dtype="datetime64[ns]")
        previous = None
        for block, read in read_blocks(fields, day_bytes):
            x, finite = self._values(read(), valid)
            x = np.where(finite, x - self.mean.reshape(self.shape), 0.0)
            x = x.astype(np.float32).reshape(len(x), -1)
            finite = finite.reshape(len(x), -1).astype(np.float32)
            w = weights[:, block]
            self.n += finite.sum(axis=0)
            self.s += x.sum(axis=0, dtype=np.float64)
            self.ss += (x * x).sum(axis=0, dtype=np.float64)
            self.n1 += w @ finite
            self.s1 += (w @ x).astype(np.float64)
            self.ss1 += (w @ (x * x)).astype(np.float64)
            days = time[block]
            if previous is not None:
                x, days = np.concatenate([previous[0], x]), np.concatenate([previous[1], days])
            lag += _lag_sums(x, days)
            previous = (x[-1:], days[-1:])
        self.inflation = _inflation(*lag)
        self.size = weights.sum(axis=1, dtype=np.float64)[:, None]

    def _values(self, part: xr.Dataset, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float64 (time, variable, lat, lon) of a block, NaN outside ``valid``, and where
        finite."""
        x = np.stack([np.asarray(part[v].values, dtype=np.float64) for v in self.variables], 1)
        x = np.where(valid, x, np.nan)
        return x, np.isfinite(x)

    def composite(self, alpha: float, test: str) -> tuple[np.ndarray, ...]:
        return _welch(self, self.size, self.n1, self.s1, self.ss1, alpha, test)


def _describe(fields: xr.Dataset) -> tuple[list, list, dict, np.ndarray]:
    """(variables, units, spatial coords, valid (lat, lon)) of ``fields``, checked."""
    variables = [v for v in fields.data_vars if v != "mask"]
    if not variables:
        raise DataError("the fields hold no data variable; load at least one variable")
    for v in variables:
        if fields[v].dims != ("time", *SPATIAL_DIMS):
            raise DataError(
                f"field {v!r} has dims {fields[v].dims}; expected (time, latitude, longitude)"
            )
    units = [str(fields[v].attrs.get("units", "")) for v in variables]
    coords = {d: fields[d] for d in SPATIAL_DIMS}
    shape = fields[variables[0]].shape[1:]
    valid = (
        np.asarray(fields["mask"].values, dtype=bool)
        if "mask" in fields
        else np.ones(shape, dtype=bool)
    )
    return variables, units, coords, valid


def _lag_sums(x: np.ndarray, time: np.ndarray) -> np.ndarray:
    """(4, cell): Σ a·b, Σ a², Σ b² and the count over the pairs (a, b) of consecutive days
    of ``x`` (time, cell), centred, missing values 0; pairs across a gap in ``time`` are left
    out."""
    step = np.diff(np.asarray(time, dtype="datetime64[ns]")) == np.timedelta64(1, "D")
    a, b = x[:-1][step], x[1:][step]
    sums = [np.einsum("tc,tc->c", u, v, dtype=np.float64) for u, v in ((a, b), (a, a), (b, b))]
    return np.stack([*sums, np.full(x.shape[1], float(len(a)))])


def _inflation(num: np.ndarray, aa: np.ndarray, bb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Variance inflation (1 + r₁)/(1 − r₁) ≥ 1 per cell from :func:`_lag_sums`; r₁ = the
    lag-1 autocorrelation, floored at 0 and capped at 0.95 (0 with fewer than 2 pairs)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r1 = np.clip(np.nan_to_num(num / np.sqrt(aa * bb)), 0.0, 0.95)
    r1[pairs < 2] = 0.0
    return (1 + r1) / (1 - r1)


def fdr(p: np.ndarray, tested: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini–Hochberg over the cells of each map: ``p`` and ``tested`` (…, variable,
    lat, lon); a tested cell is significant when its adjusted p-value
    (``scipy.stats.false_discovery_control`` over the map's tested cells) is ≤ ``alpha``
    (Wilks 2016)."""
    from scipy.stats import false_discovery_control

    maps = p.reshape(-1, p.shape[-2] * p.shape[-1])
    keep = tested.reshape(maps.shape)
    out = np.zeros(maps.shape, dtype=bool)
    for i, (pm, km) in enumerate(zip(maps, keep & np.isfinite(maps), strict=True)):
        if km.any():
            out[i, km] = false_discovery_control(pm[km]) <= alpha
    return out.reshape(p.shape)


_CACHE: list[tuple[weakref.ref, _Stack]] = []
_CACHE_SIZE = 4


def cache_sums(fields: xr.Dataset) -> None:
    """Build and cache the per-cell sums of ``fields`` (once per Dataset object, ~0.15 s on
    the sample) so that the next :func:`composite_of_days` on them costs milliseconds."""
    _stack(fields)


def _stack(fields: xr.Dataset) -> _Stack:
    """The :class:`_Stack` of ``fields``, built once per Dataset object.

    Fields are not expected to change in place; repeated selections on the same fields (the
    dashboard's) then cost milliseconds.
    """
    for ref, st in _CACHE:
        if ref() is fields:
            return st
    st = _Stack(fields)
    _CACHE[:] = [(r, s) for r, s in _CACHE if r() is not None][-(_CACHE_SIZE - 1) :]
    _CACHE.append((weakref.ref(fields), st))
    return st


TESTS = {
    "fdr": "Welch t-test with effective sample sizes (lag-1 autocorrelation), "
    "false discovery rate α_FDR = {alpha} per map (Benjamini–Hochberg, Wilks 2016)",
    "local": "Welch t-test with effective sample sizes (lag-1 autocorrelation), "
    "p < {alpha} cell by cell (no control of multiplicity)",
}


def _dataset(
    stack: _Stack,
    parts: tuple,
    alpha: float,
    test: str,
    lead: tuple[str, ...] = (),
    lead_coords=None,
) -> xr.Dataset:
    """Wrap :meth:`_Stack.composite` output; without ``lead`` the group dim is dropped."""
    dims = (*lead, "variable", *SPATIAL_DIMS)
    mean, anom, sig, count = parts if lead else (p[0] for p in parts)
    ds = xr.Dataset(
        {
            "mean": (dims, mean.astype(np.float32)),
            "anomaly": (dims, anom.astype(np.float32)),
            "significant": (dims, sig),
            "count": (lead, count),
            "frequency": (lead, count / max(stack.n_time, 1)),
        },
        coords={
            **(lead_coords or {}),
            "variable": stack.variables,
            "units": ("variable", stack.units),
            **stack.coords,
        },
    )
    ds["mean"].attrs["long_name"] = "composite mean"
    ds["anomaly"].attrs["long_name"] = "composite mean minus the whole period's mean"
    ds["significant"].attrs["long_name"] = "mean differs from the other days' mean"
    ds["frequency"].attrs["long_name"] = "share of days"
    ds.attrs.update(alpha=alpha, test=test, test_description=TESTS[test].format(alpha=alpha))
    return ds


def _check_test(test: str, alpha: float) -> None:
    if test not in TESTS:
        raise DataError(f"unknown significance test {test!r}: choose one of {', '.join(TESTS)}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must lie between 0 and 1, got {alpha!r}")


def composite_of_days(
    fields: xr.Dataset, days, alpha: float = 0.1, test: str = "fdr"
) -> xr.Dataset:
    """Composite of an arbitrary selection of days.

    fields: Dataset of (time, latitude, longitude) fields plus ``mask``. days: bool (time,).
    alpha, test: the significance test (module doc).
    Returns ``mean``, ``anomaly``, ``significant`` on (variable, latitude, longitude),
    scalar ``count`` and ``frequency``; ``units`` coordinate on variable.
    """
    _check_test(test, alpha)
    stack = _stack(fields)
    d = np.asarray(days)
    if d.dtype != bool or d.shape != (stack.n_time,):
        raise DataError(
            f"days must be a boolean array with one entry per day ({stack.n_time}), "
            f"got {d.dtype} {d.shape}"
        )
    parts = stack.composite(d[None].astype(np.float32), alpha, test)
    return _dataset(stack, parts, alpha, test)


def cluster_composites(
    fields: xr.Dataset,
    labels,
    alpha: float = 0.1,
    n_clusters: int | None = None,
    test: str = "fdr",
) -> xr.Dataset:
    """Composite of every cluster.

    fields: Dataset of (time, latitude, longitude) fields plus ``mask``. labels: int (time,)
    (array or DataArray), cluster ids 0..K-1; n_clusters: K (default max label + 1);
    alpha, test: the significance test (module doc).
    Returns ``mean``, ``anomaly``, ``significant`` on (cluster, variable, latitude,
    longitude), ``count`` and ``frequency`` on (cluster); ``units`` coordinate on variable.
    The fields are read in blocks of days (dask-backed ones are never loaded whole) and
    only the clusters' sums are kept.
    """
    _check_test(test, alpha)
    n_time = fields.sizes["time"]
    lab = np.asarray(labels, dtype=np.int64)
    if lab.shape != (n_time,):
        raise DataError(f"labels {lab.shape} must have one entry per day ({n_time})")
    k = int(n_clusters) if n_clusters is not None else int(lab.max()) + 1
    onehot = (lab[None, :] == np.arange(k)[:, None]).astype(np.float32)
    stack = _StreamedSums(fields, onehot)
    parts = stack.composite(alpha, test)
    return _dataset(stack, parts, alpha, test, ("cluster",), {"cluster": np.arange(k)})
