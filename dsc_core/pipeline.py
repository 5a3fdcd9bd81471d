"""One clustering run, end to end: load → preprocess → fit → analysis.

:class:`RunConfig` (:mod:`dsc_core.run_config`) holds the settings; :func:`run` returns a
:class:`dsc_core.runs.Run` with labels, latent vectors, soft assignments, composites and
metrics, including a k-means reference fitted on the same preprocessed data.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dsc_core.errors import ConfigError
from dsc_core.run_config import RunConfig
from dsc_core.scratch import clear_stale_scratch as clear_stale_scratch  # re-exported
from dsc_core.scratch import write_days

if TYPE_CHECKING:
    import xarray as xr

    from dsc_core.runs import Run

SIGNIFICANT_PERCENTILE = 95
"""A run's clusters below this percentile of the red-noise surrogates get a trust warning."""
MAX_LATENT = 64
"""Wider "latent" features (a baseline's flattened input) are stored as their leading PCs."""


def estimator_params(config: RunConfig, callbacks: Iterable[Callable] = ()) -> dict:
    """Keyword arguments of ``make_estimator`` for ``config``; ``make_estimator`` ignores the
    ones a method does not use (the deep settings for k-means, say)."""
    params: dict[str, Any] = dict(
        preset=config.preset, device=config.device, callbacks=list(callbacks)
    )
    if config.window is not None:
        params["window"] = config.window
    params.update(config.params)
    return params


def _emit(
    callbacks: Iterable[Callable], phase: str, message: str, start: float, step=0, steps=0
) -> None:
    """An Event of a pipeline phase to ``callbacks``; ``step`` of ``steps`` (blocks of days)
    when the phase reports its progress (the CLI draws a bar), else a message."""
    from dsc_core.training import Event

    elapsed = time.perf_counter() - start
    event = Event(phase=phase, epoch=step, n_epochs=steps, elapsed=elapsed, message=message)
    for cb in callbacks:
        cb(event)


def embed(estimator: Any, X: np.ndarray, labels: np.ndarray, n_clusters: int, time=None):
    """Latent vectors (day, latent) and soft assignments (day, K) of a fitted estimator.

    The latent space is the estimator's ``transform``; one wider than :data:`MAX_LATENT`
    (k-means' flattened input) is replaced by its 10 leading principal components. Soft
    assignments come from ``soft_assignments``, ``predict_proba`` or one-hot labels.
    ``time``: the days' dates (datetime64 (day,)), for windows that stop at gaps.
    """
    if hasattr(estimator, "transform"):
        latent = np.asarray(estimator.transform(X, time=time), dtype=np.float64)
    else:
        latent = X.reshape(len(X), -1).astype(np.float64)
    if latent.shape[1] > MAX_LATENT:
        from sklearn.decomposition import PCA

        latent = PCA(n_components=min(10, *latent.shape), random_state=0).fit_transform(latent)
    if hasattr(estimator, "soft_assignments"):
        soft = estimator.soft_assignments(X, time=time)
    elif hasattr(estimator, "predict_proba"):
        soft = estimator.predict_proba(X)
    else:
        soft = np.eye(n_clusters)[labels]
    return latent.astype(np.float32), np.asarray(soft, dtype=np.float32)


def score(
    features: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray | None,
    sample: np.ndarray | None = None,
) -> dict:
    """Internal scores and (when ``truth`` is given) truth scores of one labelling; with
    ``sample`` (day indices), ``features`` hold those days only and the internal scores are
    computed on them, the truth scores on every day."""
    from dsc_core.metrics import internal_scores, truth_scores

    sampled = labels if sample is None else labels[sample]
    out: dict[str, Any] = {"internal": internal_scores(features, sampled)}
    out["truth"] = truth_scores(labels, truth) if truth is not None else None
    return out


def load_data(config: RunConfig, data: xr.Dataset | None = None) -> xr.Dataset:
    """The dataset of ``config`` (``data``, when given, instead of ``config.data``)."""
    from dsc_core.data import load

    return load(
        data if data is not None else config.data,
        variables=config.variables,
        start=config.start,
        end=config.end,
        bbox=config.bbox,
        level=config.level,
    )


SCORE_DAYS = 4000
SCORE_VALUES = 16_000_000
MIN_SCORE_DAYS = 500
"""The internal scores are computed on a seeded sample of days when a run has more than
SCORE_DAYS days or more than SCORE_VALUES values (silhouette compares all pairs of days, and
the paper's features are float64), and ``metrics["score_days"]`` says so."""
REFERENCE_PCS = 50
"""The k-means reference of days kept on disk clusters their leading principal components
(incremental PCA, in blocks), not the flattened fields."""


@dataclass
class Prepared:
    """A run's data, ready for the estimators: ``ds`` the selected days (time, latitude,
    longitude), ``pre`` the fitted Preprocessor (seasonal cycle from the whole period), ``X``
    float32 (day, variable, y, x) (a NumPy array, or a Zarr array on disk when larger than the
    memory budget), ``mask`` bool (y, x), ``days`` datetime64 (day,), ``store`` the folder
    of the Zarr store (None: in memory; :meth:`close` removes it)."""

    ds: xr.Dataset
    pre: Any
    X: Any
    mask: np.ndarray
    days: np.ndarray
    store: Path | None = None

    @property
    def on_disk(self) -> bool:
        return self.store is not None

    def close(self) -> None:
        """Remove the Zarr store, if any."""
        if self.store is not None:
            shutil.rmtree(self.store, ignore_errors=True)
            self.store = None


def prepare(config: RunConfig, data: xr.Dataset | None = None, emit=None) -> Prepared:
    """Load ``config``'s selection and preprocess it: the seasonal cycle and statistics are
    fitted on every day of the period, then the months are selected. Days larger than
    ``config.memory_budget`` go to a Zarr store (:func:`dsc_core.scratch.write_days`). ``emit(phase,
    message)`` reports the phases."""
    from dsc_core.data.calendar import select_months
    from dsc_core.preprocess import Preprocessor

    emit = emit or (lambda phase, message, step=0, steps=0: None)
    config.validate()
    emit("load", f"loading {config.data if data is None else 'the given data'}")
    ds = load_data(config, data)
    season = select_months(ds, config.months)
    n_days = int(season.sizes["time"])
    config.validate(n_days)
    emit("preprocess", f"preprocessing {n_days} days")
    pre = Preprocessor(deseasonalize=config.deseasonalize, area_weighting=config.area_weighting)
    pre.fit(ds, progress=lambda i, n: emit("preprocess", "statistics", i, n))
    mask = pre.padded_mask_
    size_gb = n_days * len(pre.variables_) * mask.size * 4 / 1e9
    on_disk = size_gb > config.memory_budget
    where = f"{size_gb:.1f} GB to a Zarr store" if on_disk else "normalised days"

    def written(i: int, n: int) -> None:
        emit("write", where, i, n)

    if not on_disk:
        X = pre.transform(season, progress=written)
        return Prepared(season, pre, X, mask, season["time"].values)
    X, store = write_days(pre, season, progress=written)
    return Prepared(season, pre, X, mask, season["time"].values, store)


def score_sample(n_days: int, n_features: int, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of day indices to compute the internal scores on: at most
    :data:`SCORE_DAYS` days and :data:`SCORE_VALUES` values (days × features), at least
    :data:`MIN_SCORE_DAYS` (None: score every day)."""
    n = max(min(SCORE_DAYS, SCORE_VALUES // max(n_features, 1)), MIN_SCORE_DAYS)
    if n_days <= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_days, n, replace=False))


def score_features(
    config: RunConfig,
    prepared: Prepared,
    anomalies: xr.Dataset | None = None,
    days: np.ndarray | None = None,
) -> np.ndarray:
    """The paper's metric input (:func:`dsc_core.preprocess.paper_features`) in
    ``config.score_space``: of the anomalies the methods cluster (``anomalies`` when already
    computed), or of the raw fields; of the day indices ``days`` only (None: every day)."""
    from dsc_core.preprocess import paper_features

    ds, pre = prepared.ds, prepared.pre
    if config.score_space == "paper" or not config.deseasonalize:
        source = ds
    else:
        source = anomalies if anomalies is not None else pre.anomalies(ds)
    if days is not None:
        source = source.isel(time=days)
    return paper_features(source, ds["mask"].values)


def run(
    config: RunConfig, callbacks: Iterable[Callable] = (), data: xr.Dataset | None = None
) -> Run:
    """Run ``config`` end to end and return a :class:`dsc_core.runs.Run`.

    callbacks receive :class:`dsc_core.training.Event` objects: pipeline phases "load",
    "preprocess", "analysis" and the estimator's training events; raising
    :class:`dsc_core.errors.Cancelled` in one stops the run. ``data``: an already loaded
    ``xr.Dataset`` to use instead of ``config.data`` (the selection is still applied).
    """
    callbacks = list(callbacks)
    start = time.perf_counter()
    marks = {}

    def emit(phase: str, message: str, step: int = 0, steps: int = 0) -> None:
        marks.setdefault(phase, time.perf_counter())
        _emit(callbacks, phase, message, start, step, steps)

    prepared = prepare(config, data, emit)
    try:
        return _analyse(config, prepared, callbacks, start, marks)
    finally:
        prepared.close()


def _analyse(config: RunConfig, prepared: Prepared, callbacks: list, start: float, marks: dict):
    """The fits and the analysis of :func:`run` on its prepared data."""
    from dsc_core.composites import cluster_composites

    t_load, t_pre = marks["preprocess"], time.perf_counter()
    if prepared.on_disk and config.surrogates:
        raise ConfigError(
            "the red-noise test needs the days in memory: raise --memory-budget or drop "
            "--significance"
        )
    fit = _fitter(config, prepared)
    estimator = fit(config.method, config.seed, callbacks)
    t_fit = time.perf_counter()

    _emit(callbacks, "analysis", "composites and scores", start)
    clusters = _Clusters.of(config, prepared, estimator)
    fields = _fields(config, prepared)
    composites = cluster_composites(fields, clusters.labels, n_clusters=config.clusters)
    reference = fit("kmeans", config.seed)
    truth = _truth(prepared.ds)
    metrics = _scores(config, prepared, fields, clusters, reference.labels_, truth)
    _emit(callbacks, "trust", "references and the red-noise test of the data", start)
    metrics["trust"] = _trust(config, prepared, fit, estimator, clusters.raw, reference,
                              truth, callbacks, start)  # fmt: skip
    if config.surrogates:
        _significance(config, prepared, fit, clusters.labels, metrics, callbacks, start)
    t_end = time.perf_counter()
    metrics.update(
        n_days=len(prepared.days),
        load_seconds=t_load - start,
        preprocess_seconds=t_pre - t_load,
        fit_seconds=t_fit - t_pre,
        analysis_seconds=t_end - t_fit,
        total_seconds=t_end - start,
    )
    return _run_of(config, prepared, clusters, composites, metrics, fields, estimator)


def _fitter(config: RunConfig, prepared: Prepared) -> Callable[..., Any]:
    """``fit(method, seed, callbacks=(), data=X)``: an estimator of ``config`` (another
    method and seed) fitted on the prepared days (or on ``data`` of their shape)."""
    from dsc_core.baselines import make_estimator

    def fit(method: str, seed: int, callbacks=(), data=prepared.X):
        params = estimator_params(replace(config, method=method), callbacks)
        if method == "kmeans" and prepared.on_disk:
            params["n_components"] = REFERENCE_PCS
        est = make_estimator(method, config.clusters, random_state=seed, **params)
        return est.fit(data, mask=prepared.mask, time=prepared.days)

    return fit


@dataclass
class _Clusters:
    """A fitted run's clusters, numbered from the most to the least frequent (``order``: the
    model's id of each): ``labels`` after the shortest-spell filter, ``raw`` before it,
    ``soft`` (day, K) and ``latent`` (day, latent)."""

    labels: np.ndarray
    raw: np.ndarray
    soft: np.ndarray
    latent: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, config: RunConfig, prepared: Prepared, estimator: Any) -> _Clusters:
        from dsc_core.regimes import frequency_order, min_spell_filter, relabel

        raw = np.asarray(estimator.labels_, dtype=np.int64)
        latent, soft = embed(estimator, prepared.X, raw, config.clusters, time=prepared.days)
        labels = min_spell_filter(raw, config.min_spell, time=prepared.days)
        order = frequency_order(labels, config.clusters)
        return cls(relabel(labels, order), relabel(raw, order), soft[:, order], latent, order)


def _fields(config: RunConfig, prepared: Prepared) -> xr.Dataset:
    """The physical fields the run clustered (anomalies when deseasonalised) with the mask:
    in memory, or lazy and read in blocks when the days are kept on disk."""
    ds = prepared.ds
    fields = prepared.pre.anomalies(ds) if config.deseasonalize else ds
    fields = fields.assign(mask=ds["mask"])
    return fields if prepared.on_disk else fields.load()


def _truth(ds: xr.Dataset) -> np.ndarray | None:
    """The planted regimes of synthetic data (the ``regime`` coordinate), else None."""
    return np.asarray(ds["regime"].values, dtype=np.int64) if "regime" in ds.coords else None


def _scores(
    config: RunConfig,
    prepared: Prepared,
    fields: xr.Dataset,
    clusters: _Clusters,
    reference: np.ndarray,
    truth: np.ndarray | None,
) -> dict:
    """The run's metrics: internal (and truth) scores beside the k-means ``reference``'s,
    regime statistics (before the shortest-spell filter too), the cluster order."""
    from dsc_core.metrics import regime_stats

    days, n_days = prepared.days, len(prepared.days)
    n_features = int(prepared.ds["mask"].values.sum()) * len(prepared.pre.variables_)
    scored = score_sample(n_days, n_features, config.seed)
    features = score_features(config, prepared, anomalies=fields, days=scored)
    metrics = score(features, clusters.labels, truth, scored)
    reference_scores = score(features, np.asarray(reference, dtype=np.int64), truth, scored)
    metrics["reference"] = {"method": "kmeans", **reference_scores}
    del features
    metrics["days_on_disk"] = prepared.on_disk
    if scored is not None:
        metrics["score_days"] = {
            "n": len(scored),
            "of": n_days,
            "note": f"internal scores on a seeded sample of {len(scored)} of the "
            f"{n_days} days (silhouette compares all pairs of days)",
        }
    metrics["regimes"] = regime_stats(clusters.labels, config.clusters, time=days)
    metrics["cluster_order"] = clusters.order.tolist()
    if config.min_spell > 1:
        metrics["regimes_unfiltered"] = regime_stats(clusters.raw, config.clusters, time=days)
    if prepared.on_disk:
        metrics["reference"]["note"] = (
            f"k-means on the {REFERENCE_PCS} leading principal components of days kept on disk"
        )
    return metrics


def _trust(
    config: RunConfig,
    prepared: Prepared,
    fit: Callable[..., Any],
    estimator: Any,
    raw: np.ndarray,
    reference: Any,
    truth: np.ndarray | None,
    callbacks: list,
    start: float,
) -> dict:
    """:func:`dsc_core.trust.trust_checks` of the run's clusters before the shortest-spell
    filter: the references (k-means, PCA + GMM), the data's red-noise test, the clustering
    head's votes, and with ``check_stability`` every method refitted with the next seed."""
    from dsc_core.trust import structure_test, trust_checks

    gmm = estimator if config.method == "pca-gmm" else fit("pca-gmm", config.seed)
    references = {"kmeans": reference.labels_, "pca-gmm": gmm.labels_}
    pcs = gmm.transform(prepared.X)
    structure = structure_test(pcs, config.clusters, prepared.days, config.seed)
    again = {}
    if config.check_stability:
        _emit(callbacks, "stability", f"seed {config.seed + 1} for the stability check", start)
        again = {m: fit(m, config.seed + 1).labels_ for m in references}
        again[config.method] = fit(config.method, config.seed + 1, callbacks).labels_
    return trust_checks(
        config.method,
        raw,
        references,
        structure,
        again.get(config.method),
        again,
        truth=truth,
        head=getattr(estimator, "head_", None),
        time=prepared.days,
        years_removed=getattr(estimator, "years_removed_", None),
    )


def _significance(
    config: RunConfig,
    prepared: Prepared,
    fit: Callable[..., Any],
    labels: np.ndarray,
    metrics: dict,
    callbacks: list,
    start: float,
) -> None:
    """The run's clusters against ``config.surrogates`` red-noise surrogates clustered the
    same way (:func:`dsc_core.significance.regime_significance`) into ``metrics``, with a
    trust warning below :data:`SIGNIFICANT_PERCENTILE`."""
    from dsc_core.regimes import min_spell_filter
    from dsc_core.significance import regime_significance

    days = prepared.days

    def cluster(fake: np.ndarray, seed: int) -> np.ndarray:
        labels_ = fit(config.method, seed, callbacks, data=fake).labels_
        return min_spell_filter(np.asarray(labels_), config.min_spell, time=days)

    def progress(i: int, n: int) -> None:
        _emit(callbacks, "significance", f"red-noise surrogate {i} of {n}", start)

    sig = regime_significance(prepared.X, prepared.mask, labels, cluster, config.surrogates,
                              days, config.seed, progress)  # fmt: skip
    metrics["significance"] = sig
    if sig["percentile"] < SIGNIFICANT_PERCENTILE:
        metrics["trust"]["warnings"].append(
            f"the clusters are not more distinct than red noise clustered the same way "
            f"(above {sig['percentile']:.0f} % of {sig['n_surrogates']} surrogates; "
            f"{SIGNIFICANT_PERCENTILE} % needed)"
        )


def _run_of(
    config: RunConfig,
    prepared: Prepared,
    clusters: _Clusters,
    composites: xr.Dataset,
    metrics: dict,
    fields: xr.Dataset,
    estimator: Any,
) -> Run:
    """The :class:`dsc_core.runs.Run` of an analysed fit, on the prepared days' dates."""
    import pandas as pd
    import xarray as xr

    from dsc_core.runs import Run

    time_coord = {"time": prepared.ds["time"].values}
    latent = clusters.latent
    return Run(
        config=config,
        labels=xr.DataArray(clusters.labels, dims="time", coords=time_coord, name="cluster"),
        latent=xr.DataArray(
            latent,
            dims=("time", "latent"),
            coords={**time_coord, "latent": np.arange(latent.shape[1])},
            name="latent",
        ),
        soft=xr.DataArray(
            clusters.soft,
            dims=("time", "cluster"),
            coords={**time_coord, "cluster": np.arange(config.clusters)},
            name="soft",
        ),
        composites=composites,
        metrics=metrics,
        history=pd.DataFrame(list(getattr(estimator, "history_", None) or [])),
        fields=fields,
        preprocessor=prepared.pre.to_dict(),
        estimator=estimator,
    )
