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

from dsc_core.blocks import read_blocks
from dsc_core.errors import DataError

SPATIAL_DIMS = ("latitude", "longitude")
SELECTION_BLOCK_BYTES = 16 * 2**20
"""A composite of some days reads them in blocks of about this many bytes (float64)."""


class FieldSums:
    """Per-cell sums of ``fields`` over the whole period: what the test of every composite
    of them needs. A cell is one (variable, latitude, longitude).

    ``mean`` (cell,) is the whole-period mean (NaN where never valid); ``n``, ``s``, ``ss``
    the count, sum and sum of squares of the values centred on it (centring in float64 keeps
    the sums of squares accurate for fields with a large offset, surface pressure in Pa);
    ``inflation`` the variance inflation of day-to-day persistence; ``variables``, ``units``,
    ``coords``, ``valid`` (lat, lon), ``shape`` (variable, lat, lon) and ``n_time`` describe
    the fields. :meth:`of` reads the fields in blocks of days, twice; a stored run keeps them
    in ``field_sums.nc`` (:meth:`to_dataset` / :meth:`from_dataset`), so that a composite of
    a few days reads those days only.
    """

    def __init__(self, fields: xr.Dataset) -> None:
        self.variables, self.units, self.coords, self.valid = _describe(fields)
        self.n_time = int(fields.sizes["time"])
        self.shape = (len(self.variables), *self.valid.shape)
        self.day_bytes = 8 * int(np.prod(self.shape))
        self.mean = self.n = self.s = self.ss = self.inflation = np.zeros(0)

    @classmethod
    def of(cls, fields: xr.Dataset, weights: np.ndarray | None = None) -> tuple[FieldSums, tuple]:
        """The sums of ``fields``, and in the same pass those of the groups of days
        ``weights`` (float32 (group, time), 1 where a day belongs): ``(size, n1, s1, ss1)``
        for :func:`_welch`."""
        self = cls(fields)
        total, count = np.zeros(self.shape), np.zeros(self.shape)
        for _, read in read_blocks(fields, self.day_bytes):
            part = read()
            for i, v in enumerate(self.variables):
                xi = np.where(self.valid, np.asarray(part[v].values, np.float64), np.nan)
                total[i] += np.where(np.isfinite(xi), xi, 0.0).sum(axis=0)
                count[i] += np.isfinite(xi).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = (total / count).reshape(-1)
        cells = self.mean.size
        self.n, self.s, self.ss = np.zeros(cells), np.zeros(cells), np.zeros(cells)
        groups = _GroupSums(np.zeros((0, self.n_time)) if weights is None else weights, cells)
        lag, previous = np.zeros((4, cells)), None
        time = np.asarray(fields["time"].values, dtype="datetime64[ns]")
        for block, read in read_blocks(fields, self.day_bytes):
            x, finite = self.centred(read())
            self.n += finite.sum(axis=0)
            self.s += x.sum(axis=0, dtype=np.float64)
            self.ss += (x * x).sum(axis=0, dtype=np.float64)
            groups.add(weights[:, block] if weights is not None else None, x, finite)
            days = time[block]
            if previous is not None:
                x, days = np.concatenate([previous[0], x]), np.concatenate([previous[1], days])
            lag += _lag_sums(x, days)
            previous = (x[-1:], days[-1:])
        self.inflation = _inflation(*lag)
        return self, groups.parts()

    def centred(self, part: xr.Dataset, rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """float32 (day, cell) of the days of ``part`` (only ``rows`` of them, if given)
        minus the whole-period mean, 0 where missing, and float32 (day, cell) 1 where a value
        is present; one variable at a time in float64, so that a block costs little more
        than these two."""
        per = int(np.prod(self.shape[1:]))
        n_days = part.sizes["time"] if rows is None else len(rows)
        x = np.empty((n_days, len(self.variables) * per), np.float32)
        finite = np.empty(x.shape, np.float32)
        for i, v in enumerate(self.variables):
            cells = slice(i * per, (i + 1) * per)
            xi = np.asarray(part[v].values)
            xi = (xi if rows is None else xi[rows]).astype(np.float64).reshape(n_days, per)
            fi = np.isfinite(xi) & self.valid.reshape(-1)
            x[:, cells] = np.where(fi, xi - self.mean[cells], 0.0)
            finite[:, cells] = fi
        return x, finite

    def to_dataset(self) -> xr.Dataset:
        """The sums on (variable, latitude, longitude), to store beside the fields."""
        dims = ("variable", *SPATIAL_DIMS)
        names = ("mean", "n", "s", "ss", "inflation")
        return xr.Dataset(
            {k: (dims, getattr(self, k).reshape(self.shape)) for k in names},
            coords={"variable": self.variables, "units": ("variable", self.units),
                    **self.coords, "mask": (SPATIAL_DIMS, self.valid)},
            attrs={"n_time": self.n_time},
        )  # fmt: skip

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> FieldSums:
        """Inverse of :meth:`to_dataset`."""
        self = cls.__new__(cls)
        self.variables = [str(v) for v in ds["variable"].values]
        self.units = [str(u) for u in ds["units"].values]
        self.coords = {d: ds[d] for d in SPATIAL_DIMS}
        self.valid = np.asarray(ds["mask"].values, dtype=bool)
        self.n_time = int(ds.attrs["n_time"])
        self.shape = (len(self.variables), *self.valid.shape)
        self.day_bytes = 8 * int(np.prod(self.shape))
        for k in ("mean", "n", "s", "ss", "inflation"):
            setattr(self, k, np.asarray(ds[k].values, dtype=np.float64).reshape(-1))
        return self

    def matches(self, fields: xr.Dataset) -> bool:
        """Whether these are the sums of ``fields`` (same variables, in any order, days and
        grid)."""
        variables = [v for v in fields.data_vars if v != "mask"]
        grid = tuple(fields.sizes.get(d, 0) for d in SPATIAL_DIMS)
        return (sorted(variables), fields.sizes.get("time"), grid) == (
            sorted(self.variables), self.n_time, self.shape[1:]
        )  # fmt: skip


class _GroupSums:
    """Count, sum and sum of squares per cell of groups of days (``weights`` float32 (group,
    time)), accumulated block by block from centred values."""

    def __init__(self, weights: np.ndarray, cells: int) -> None:
        k = len(weights)
        self.size = weights.sum(axis=1, dtype=np.float64)[:, None]
        self.n1, self.s1, self.ss1 = (
            np.zeros((k, cells)),
            np.zeros((k, cells)),
            np.zeros((k, cells)),
        )

    def add(self, w: np.ndarray | None, x: np.ndarray, finite: np.ndarray) -> None:
        if w is None or not len(w):
            return
        self.n1 += (w @ finite).astype(np.float64)
        self.s1 += (w @ x).astype(np.float64)
        self.ss1 += (w @ (x * x)).astype(np.float64)

    def parts(self) -> tuple:
        return self.size, self.n1, self.s1, self.ss1


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


_SUMS: list[tuple[weakref.ref, FieldSums]] = []
_SUMS_KEPT = 8


def field_sums(fields: xr.Dataset) -> FieldSums:
    """The :class:`FieldSums` of ``fields``, computed once per Dataset object (or given by
    :func:`remember_sums`): fields are not expected to change in place."""
    for ref, sums in _SUMS:
        if ref() is fields:
            return sums
    return remember_sums(fields, FieldSums.of(fields)[0])


def remember_sums(fields: xr.Dataset, sums: FieldSums) -> FieldSums:
    """Let :func:`field_sums` answer ``sums`` for ``fields`` (e.g. read from a run folder)."""
    if not sums.matches(fields):
        raise DataError("these sums are not those of these fields: recompute them")
    _SUMS[:] = [(r, s) for r, s in _SUMS if r() is not None][-(_SUMS_KEPT - 1) :]
    _SUMS.append((weakref.ref(fields), sums))
    return sums


TESTS = {
    "fdr": "Welch t-test with effective sample sizes (lag-1 autocorrelation), "
    "false discovery rate α_FDR = {alpha} per map (Benjamini–Hochberg, Wilks 2016)",
    "local": "Welch t-test with effective sample sizes (lag-1 autocorrelation), "
    "p < {alpha} cell by cell (no control of multiplicity)",
}


def _dataset(
    sums: FieldSums,
    parts: tuple,
    alpha: float,
    test: str,
    lead: tuple[str, ...] = (),
    lead_coords=None,
) -> xr.Dataset:
    """Wrap :func:`_welch` output; without ``lead`` the group dim is dropped."""
    dims = (*lead, "variable", *SPATIAL_DIMS)
    mean, anom, sig, count = parts if lead else (p[0] for p in parts)
    ds = xr.Dataset(
        {
            "mean": (dims, mean.astype(np.float32)),
            "anomaly": (dims, anom.astype(np.float32)),
            "significant": (dims, sig),
            "count": (lead, count),
            "frequency": (lead, count / max(sums.n_time, 1)),
        },
        coords={
            **(lead_coords or {}),
            "variable": sums.variables,
            "units": ("variable", sums.units),
            **sums.coords,
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
    Only the blocks of days that hold selected days are read (with the whole period's sums
    from :func:`field_sums`: read once per fields, or stored with a run).
    """
    _check_test(test, alpha)
    sums = field_sums(fields)
    d = np.asarray(days)
    if d.dtype != bool or d.shape != (sums.n_time,):
        raise DataError(
            f"days must be a boolean array with one entry per day ({sums.n_time}), "
            f"got {d.dtype} {d.shape}"
        )
    groups = _GroupSums(d[None].astype(np.float32), sums.mean.size)
    step = max(1, SELECTION_BLOCK_BYTES // sums.day_bytes)
    for start in range(0, sums.n_time, step):
        picked = np.flatnonzero(d[start : start + step]) + start
        if len(picked):
            part = fields.isel(time=slice(picked[0], picked[-1] + 1))
            x, finite = sums.centred(part, picked - picked[0])
            groups.add(np.ones((1, len(picked)), np.float32), x, finite)
    parts = _welch(sums, *groups.parts(), alpha, test)
    return _dataset(sums, parts, alpha, test)


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
    only the clusters' sums are kept; the whole period's sums are remembered for
    :func:`composite_of_days` and :func:`field_sums`.
    """
    _check_test(test, alpha)
    n_time = fields.sizes["time"]
    lab = np.asarray(labels, dtype=np.int64)
    if lab.shape != (n_time,):
        raise DataError(f"labels {lab.shape} must have one entry per day ({n_time})")
    k = int(n_clusters) if n_clusters is not None else int(lab.max()) + 1
    onehot = (lab[None, :] == np.arange(k)[:, None]).astype(np.float32)
    sums, groups = FieldSums.of(fields, onehot)
    remember_sums(fields, sums)
    parts = _welch(sums, *groups, alpha, test)
    return _dataset(sums, parts, alpha, test, ("cluster",), {"cluster": np.arange(k)})
