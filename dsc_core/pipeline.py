"""One clustering run, end to end: load → preprocess → fit → analysis.

:class:`RunConfig` holds the settings (JSON round trip); :func:`run` returns a
:class:`dsc_core.runs.Run` with labels, latent vectors, soft assignments, composites and
metrics, including a k-means reference fitted on the same preprocessed data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dsc_core.errors import ConfigError, DataError

if TYPE_CHECKING:
    import xarray as xr

    from dsc_core.runs import Run

DEVICES = ("auto", "cpu", "cuda", "mps")
SCORE_SPACES = ("anomalies", "paper")
SIGNIFICANT_PERCENTILE = 95
"""A run's clusters below this percentile of the red-noise surrogates get a trust warning."""
MAX_LATENT = 64
"""Wider "latent" features (a baseline's flattened input) are stored as their leading PCs."""


def _methods() -> dict[str, str]:
    from dsc_core.baselines import METHODS

    return METHODS


def _presets() -> list[str]:
    from dsc_core.model import PRESETS

    return list(PRESETS)


@dataclass
class RunConfig:
    """Settings of one run.

    data: "sample" or a path (file, folder, glob). variables: names to use (None: all).
    start/end: inclusive "YYYY-MM-DD" (None: the data's whole period). months: the months
    to cluster, e.g. [12, 1, 2] (None: all; the CLI and :func:`dsc_core.data.calendar.
    parse_months` also take "DJF"); the seasonal cycle is removed using every day of the
    period first, and windows stop at the gaps between seasons. level: the vertical level to
    use when the data have several (e.g. 500 for 500 hPa). bbox: (lat_min,
    lat_max, lon_min, lon_max) in degrees (None: whole grid). clusters: K. method: a name of
    ``dsc_core.baselines.METHODS``. window: days the RNN reads (None: the estimator's
    default). deseasonalize: remove the smoothed seasonal cycle first. area_weighting: weight
    every cell by √cos(latitude) in what the methods see (distances, losses; see
    :class:`dsc_core.preprocess.Preprocessor`). score_space: what the paper's internal scores
    are computed on: "anomalies" (the fields the methods cluster: deseasonalised when
    deseasonalize) or "paper" (the raw fields, as the paper did). preset: model size of
    the deep methods. seed: random seed. device: "auto", "cpu", "cuda" or "mps".
    params: extra estimator keyword arguments (e.g. ``{"pretrain_epochs": 2}``).
    min_spell: spells shorter than this many days join a neighbouring regime
    (:func:`dsc_core.regimes.min_spell_filter`; 1: off); the statistics before the filter
    are kept in ``metrics["regimes_unfiltered"]``. Clusters are numbered from the most to
    the least frequent; ``metrics["cluster_order"]`` gives the model's id of each.
    surrogates: how many red-noise surrogates the method also clusters, to rank the run's
    clusters against regime-free data (:mod:`dsc_core.significance`; 0: no test; each costs
    one more fit). check_stability: also fit the method (and the k-means reference) with
    seed + 1, to report seed agreement and warn when the run agrees with itself less than
    k-means does.
    """

    data: str = "sample"
    variables: list[str] | None = None
    start: str | None = None
    end: str | None = None
    months: list[int] | None = None
    level: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    clusters: int = 4
    method: str = "dsc"
    window: int | None = None
    deseasonalize: bool = True
    area_weighting: bool = True
    score_space: str = "anomalies"
    preset: str = "default"
    seed: int = 0
    device: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)
    min_spell: int = 1
    check_stability: bool = False
    surrogates: int = 0

    def to_dict(self) -> dict:
        """JSON-able dict of the settings."""
        d = asdict(self)
        d["bbox"] = list(self.bbox) if self.bbox is not None else None
        d["data"] = str(self.data)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a ConfigError."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown run settings {sorted(unknown)}: remove them")
        d = dict(d)
        if d.get("bbox") is not None:
            d["bbox"] = tuple(float(v) for v in d["bbox"])
        return cls(**d)

    def validate(self, n_days: int | None = None) -> RunConfig:
        """Raise ConfigError (DataError for K > n_days or bad months) on a bad setting;
        return self (months normalised to a list of ints)."""
        from dsc_core.data.calendar import parse_months

        self.months = parse_months(self.months)
        if not isinstance(self.clusters, int | np.integer) or self.clusters < 2:
            raise ConfigError(f"clusters must be an integer >= 2, got {self.clusters!r}")
        if n_days is not None and self.clusters > n_days:
            raise DataError(
                f"fewer days than clusters ({n_days} < {self.clusters}): "
                "select a longer period or fewer clusters"
            )
        methods = _methods()
        if self.method not in methods:
            raise ConfigError(f"unknown method {self.method!r}: choose one of {', '.join(methods)}")
        presets = _presets()
        if self.preset not in presets:
            raise ConfigError(f"unknown preset {self.preset!r}: choose one of {', '.join(presets)}")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.window is not None and (self.window < 1 or self.window % 2 == 0):
            raise ConfigError(f"window must be an odd number of days >= 1, got {self.window}")
        if not isinstance(self.min_spell, int | np.integer) or self.min_spell < 1:
            raise ConfigError(f"min_spell must be an integer >= 1 (days), got {self.min_spell!r}")
        if not isinstance(self.surrogates, int | np.integer) or self.surrogates < 0:
            raise ConfigError(f"surrogates must be an integer >= 0, got {self.surrogates!r}")
        if self.score_space not in SCORE_SPACES:
            raise ConfigError(
                f"unknown score space {self.score_space!r}: choose one of {', '.join(SCORE_SPACES)}"
            )
        if self.bbox is not None and len(self.bbox) != 4:
            raise ConfigError("bbox must be (lat_min, lat_max, lon_min, lon_max)")
        return self


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


def _emit(callbacks: Iterable[Callable], phase: str, message: str, start: float) -> None:
    from dsc_core.training import Event

    event = Event(
        phase=phase, epoch=0, n_epochs=0, elapsed=time.perf_counter() - start, message=message
    )
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


def score(features: np.ndarray, labels: np.ndarray, truth: np.ndarray | None) -> dict:
    """Internal scores and (when ``truth`` is given) truth scores of one labelling."""
    from dsc_core.metrics import internal_scores, truth_scores

    out: dict[str, Any] = {"internal": internal_scores(features, labels)}
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


@dataclass
class Prepared:
    """A run's data, ready for the estimators: ``ds`` the selected days (time, latitude,
    longitude), ``pre`` the fitted Preprocessor (seasonal cycle from the whole period), ``X``
    float32 (day, variable, y, x), ``mask`` bool (y, x), ``days`` datetime64 (day,)."""

    ds: xr.Dataset
    pre: Any
    X: np.ndarray
    mask: np.ndarray
    days: np.ndarray


def prepare(config: RunConfig, data: xr.Dataset | None = None, emit=None) -> Prepared:
    """Load ``config``'s selection and preprocess it: the seasonal cycle and statistics are
    fitted on every day of the period, then the months are selected. ``emit(phase,
    message)`` reports the phases."""
    from dsc_core.data.calendar import select_months
    from dsc_core.preprocess import Preprocessor

    emit = emit or (lambda phase, message: None)
    config.validate()
    emit("load", f"loading {config.data if data is None else 'the given data'}")
    ds = load_data(config, data)
    season = select_months(ds, config.months)
    n_days = int(season.sizes["time"])
    config.validate(n_days)
    emit("preprocess", f"preprocessing {n_days} days")
    pre = Preprocessor(deseasonalize=config.deseasonalize, area_weighting=config.area_weighting)
    pre.fit(ds)  # the whole period's seasonal cycle
    X = pre.transform(season)
    return Prepared(season, pre, X, pre.padded_mask_, season["time"].values)


def score_features(
    config: RunConfig, prepared: Prepared, anomalies: xr.Dataset | None = None
) -> np.ndarray:
    """The paper's metric input (:func:`dsc_core.preprocess.paper_features`) in
    ``config.score_space``: of the anomalies the methods cluster (``anomalies`` when already
    computed), or of the raw fields."""
    from dsc_core.preprocess import paper_features

    ds, pre = prepared.ds, prepared.pre
    if config.score_space == "paper" or not config.deseasonalize:
        return paper_features(ds, ds["mask"].values)
    if anomalies is None:
        anomalies = pre.anomalies(ds)
    return paper_features(anomalies, ds["mask"].values)


def run(
    config: RunConfig, callbacks: Iterable[Callable] = (), data: xr.Dataset | None = None
) -> Run:
    """Run ``config`` end to end and return a :class:`dsc_core.runs.Run`.

    callbacks receive :class:`dsc_core.training.Event` objects: pipeline phases "load",
    "preprocess", "analysis" and the estimator's training events; raising
    :class:`dsc_core.errors.Cancelled` in one stops the run. ``data``: an already loaded
    ``xr.Dataset`` to use instead of ``config.data`` (the selection is still applied).
    """
    import pandas as pd
    import xarray as xr

    from dsc_core.baselines import make_estimator
    from dsc_core.composites import cluster_composites
    from dsc_core.metrics import regime_stats, trust_checks
    from dsc_core.regimes import frequency_order, min_spell_filter, relabel
    from dsc_core.runs import Run

    callbacks = list(callbacks)
    start = time.perf_counter()
    marks = {}

    def emit(phase: str, message: str) -> None:
        marks[phase] = time.perf_counter()
        _emit(callbacks, phase, message, start)

    prepared = prepare(config, data, emit)
    ds, pre, X, mask, days = (prepared.ds, prepared.pre, prepared.X, prepared.mask, prepared.days)
    n_days = len(days)
    t_load, t_pre = marks["preprocess"], time.perf_counter()

    def fit(method: str, seed: int, callbacks=(), data=X):
        params = estimator_params(replace(config, method=method), callbacks)
        est = make_estimator(method, config.clusters, random_state=seed, **params)
        return est.fit(data, mask=mask, time=days)

    estimator = fit(config.method, config.seed, callbacks)
    raw = np.asarray(estimator.labels_, dtype=np.int64)
    t_fit = time.perf_counter()

    _emit(callbacks, "analysis", "composites and scores", start)
    latent, soft = embed(estimator, X, raw, config.clusters, time=days)
    labels = min_spell_filter(raw, config.min_spell, time=days)
    order = frequency_order(labels, config.clusters)
    labels, raw, soft = relabel(labels, order), relabel(raw, order), soft[:, order]
    fields_ = pre.anomalies(ds) if config.deseasonalize else ds
    fields_ = fields_.assign(mask=ds["mask"]).load()
    composites = cluster_composites(fields_, labels, n_clusters=config.clusters)
    features = score_features(config, prepared, anomalies=fields_)
    truth = np.asarray(ds["regime"].values, dtype=np.int64) if "regime" in ds.coords else None
    metrics = score(features, labels, truth)
    metrics["regimes"] = regime_stats(labels, config.clusters, time=days)
    metrics["cluster_order"] = order.tolist()
    if config.min_spell > 1:
        metrics["regimes_unfiltered"] = regime_stats(raw, config.clusters, time=days)
    reference = fit("kmeans", config.seed)
    metrics["reference"] = {
        "method": "kmeans",
        **score(features, np.asarray(reference.labels_, dtype=np.int64), truth),
    }
    second = None
    if config.check_stability:
        _emit(callbacks, "stability", f"seed {config.seed + 1} for the stability check", start)
        second = (fit(config.method, config.seed + 1, callbacks), fit("kmeans", config.seed + 1))
    metrics["trust"] = trust_checks(
        config.method,
        raw,
        reference.labels_,
        *((second[0].labels_, second[1].labels_) if second else (None, None)),
        truth=truth,
    )
    if config.surrogates:
        from dsc_core.regimes import min_spell_filter as persist
        from dsc_core.significance import regime_significance

        def cluster(fake: np.ndarray, seed: int) -> np.ndarray:
            labels_ = fit(config.method, seed, callbacks, data=fake).labels_
            return persist(np.asarray(labels_), config.min_spell, time=days)

        def progress(i: int, n: int) -> None:
            _emit(callbacks, "significance", f"red-noise surrogate {i} of {n}", start)

        metrics["significance"] = regime_significance(
            X, mask, labels, cluster, config.surrogates, days, config.seed, progress
        )
        sig = metrics["significance"]
        if sig["percentile"] < SIGNIFICANT_PERCENTILE:
            metrics["trust"]["warnings"].append(
                f"the clusters are not more distinct than red noise clustered the same way "
                f"(above {sig['percentile']:.0f} % of {sig['n_surrogates']} surrogates; "
                f"{SIGNIFICANT_PERCENTILE} % needed)"
            )
    t_end = time.perf_counter()
    metrics.update(
        n_days=n_days,
        load_seconds=t_load - start,
        preprocess_seconds=t_pre - t_load,
        fit_seconds=t_fit - t_pre,
        analysis_seconds=t_end - t_fit,
        total_seconds=t_end - start,
    )

    time_coord = {"time": ds["time"].values}
    cluster_coord = np.arange(config.clusters)
    return Run(
        config=config,
        labels=xr.DataArray(labels, dims="time", coords=time_coord, name="cluster"),
        latent=xr.DataArray(
            latent,
            dims=("time", "latent"),
            coords={**time_coord, "latent": np.arange(latent.shape[1])},
            name="latent",
        ),
        soft=xr.DataArray(
            soft,
            dims=("time", "cluster"),
            coords={**time_coord, "cluster": cluster_coord},
            name="soft",
        ),
        composites=composites,
        metrics=metrics,
        history=pd.DataFrame(list(getattr(estimator, "history_", None) or [])),
        fields=fields_,
        preprocessor=pre.to_dict(),
        estimator=estimator,
    )
