"""Are the regimes more than red noise? A WRtool-style test (Straus et al. 2007; Dawson et al.
2012): the same method clusters surrogate data with the same leading EOFs, variances and lag-1
autocorrelations but no regimes, and the run's clustering is ranked among them.

Statistic: the share of the days' variance explained by the cluster means (1 − within /
total sum of squares) in the space of the leading principal components. Surrogates: each
principal component keeps its mean of every year (of every season, in a season-only record)
and is otherwise replaced by an AR(1) series with its own variance and lag-1 autocorrelation
(restarting at gaps between seasons), mapped back to fields through the EOFs. Keeping the
years' means keeps interannual variability, which is not regimes, out of what counts as
structure: with AR(1) surrogates alone, files of red noise plus per-winter anomalies passed
as clustered (``benchmarks/README.md``).
The result is the percentile of the run's statistic among the surrogates' (e.g. 97: its
clusters are more distinct than 97 % of red-noise clusterings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsc_core.errors import ConfigError
from dsc_core.features import valid_cells_pca

N_COMPONENTS = 10


def explained_share(pcs: np.ndarray, labels: np.ndarray) -> float:
    """1 − within-cluster / total sum of squares of the rows of ``pcs`` (day, component)."""
    total = ((pcs - pcs.mean(0)) ** 2).sum()
    within = sum(
        ((pcs[labels == c] - pcs[labels == c].mean(0)) ** 2).sum() for c in np.unique(labels)
    )
    return float(1 - within / total) if total > 0 else 0.0


def red_noise(pcs: np.ndarray, time: Any, rng: np.random.Generator) -> np.ndarray:
    """Surrogates of ``pcs`` (day, component) without regimes: each component keeps its mean
    of every year (:func:`~dsc_core.data.calendar.year_blocks`; ``time`` None: one year),
    and around it is an AR(1) series with the same variance and lag-1 autocorrelation, each
    component independent, a fresh start at each gap in ``time``."""
    from dsc_core.data.calendar import day_blocks, year_blocks

    n, m = pcs.shape
    gaps = day_blocks(time) if time is not None else np.zeros(n, np.int64)
    years = year_blocks(time) if time is not None else np.zeros(n, np.int64)
    starts = np.r_[True, gaps[1:] != gaps[:-1]]
    means = _year_means(pcs, years)
    centred = pcs - means
    pairs = ~starts[1:]
    a, b = centred[:-1][pairs], centred[1:][pairs]
    r = np.clip((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0)), -0.99, 0.99)
    out = np.empty((n, m))
    noise = rng.normal(size=(n, m))
    for t in range(n):
        if starts[t]:
            out[t] = noise[t]
        else:
            out[t] = r * out[t - 1] + np.sqrt(1 - r * r) * noise[t]
    out *= centred.std(0)
    return out - _year_means(out, years) + means


def _year_means(x: np.ndarray, years: np.ndarray) -> np.ndarray:
    """(day, component): each row replaced by the mean of its year's rows."""
    sums = np.zeros((int(years.max()) + 1, x.shape[1]))
    np.add.at(sums, years, x)
    return (sums / np.bincount(years)[:, None])[years]


def regime_significance(
    X: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    fit: Callable[[np.ndarray, int], np.ndarray],
    n_surrogates: int = 20,
    time: Any = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Rank the clustering ``labels`` of ``X`` (day, variable, y, x; ``mask`` (y, x) valid
    cells) among ``n_surrogates`` red-noise surrogates clustered by ``fit(X_surrogate, seed)``
    → labels. Returns ``statistic``, ``null`` (the surrogates' statistics), ``percentile``
    (share of surrogates below the run, in %), ``n_surrogates``, ``n_components``."""
    if not isinstance(n_surrogates, int | np.integer) or n_surrogates < 1:
        raise ConfigError(f"surrogates must be an integer >= 1, got {n_surrogates!r}")
    pca, flat = valid_cells_pca(X, mask, N_COMPONENTS, seed)
    pcs = pca.fit(flat).transform(flat)
    statistic = explained_share(pcs, np.asarray(labels))
    rng = np.random.default_rng(seed)
    null = []
    for i in range(n_surrogates):
        fake_pcs = red_noise(pcs, time, rng)
        fake = np.zeros_like(X)
        fake[:, :, mask] = pca.inverse_transform(fake_pcs).reshape(len(X), X.shape[1], -1)
        fake_labels = np.asarray(fit(fake.astype(np.float32), seed + 1 + i))
        null.append(
            explained_share(pca.transform(fake[:, :, mask].reshape(len(X), -1)), fake_labels)
        )
        if progress:
            progress(i + 1, n_surrogates)
    null_arr = np.asarray(null)
    return {
        "statistic": statistic,
        "null": null_arr.tolist(),
        "percentile": float(100 * (null_arr < statistic).mean()),
        "n_surrogates": int(n_surrogates),
        "n_components": int(pca.n_components),
    }
