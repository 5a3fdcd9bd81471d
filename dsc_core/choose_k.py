"""Evidence for choosing the number of regimes K: one table, no K chosen for the user.

For each K the method is fitted with several seeds on the same preprocessed days, and four
measures are reported (means over seeds):

- ``seed_agreement``: mean adjusted Rand index between the seeds' partitions. Real regimes
  come back whatever the seed; a K that splits noise gives a different split each time.
- ``classifiability``: Michelangeli et al. (1995). For each pair of seeds, every cluster
  mean of one partition is matched to its most correlated cluster mean of the other; the
  index is the mean over pairs of the worst such match. 1: the same patterns every time.
- ``silhouette``: mean silhouette (euclidean) of the days, on at most 2000 of them.
- ``variance_explained``: the share of the days' total variance that the cluster means
  account for (1 − within-cluster / total sum of squares). It always grows with K: look for
  where it stops growing much.

Distances and pattern correlations use the preprocessed fields (z-scores of anomalies) of
the valid cells, every variable, as the methods see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from dsc_core.errors import ConfigError
from dsc_core.pipeline import RunConfig, estimator_params, prepare

SILHOUETTE_DAYS = 2000


@dataclass
class ChooseKRequest:
    """What to measure: ``config``'s data and method, every K of ``ks``, ``seeds`` seeds each,
    within ``max_minutes`` (the dashboard queues it like a training)."""

    config: RunConfig
    ks: list[int] = field(default_factory=lambda: list(range(2, 9)))
    seeds: int = 3
    max_minutes: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready form (``config`` as ``RunConfig.to_dict``)."""
        return {"config": self.config.to_dict(), "ks": list(self.ks), "seeds": self.seeds,
                "max_minutes": self.max_minutes}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> ChooseKRequest:
        return cls(RunConfig.from_dict(d["config"]), [int(k) for k in d["ks"]], int(d["seeds"]),
                   d.get("max_minutes"))  # fmt: skip


def parse_ks(text: str) -> list[int]:
    """ "2-9" or "3,5,7" → sorted distinct ints ≥ 2; ConfigError naming the format."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            ks = list(range(lo, hi + 1))
        else:
            ks = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 2:
        raise ConfigError(
            f"--clusters {text!r} must be a range like 2-9 or a list like 3,5,7 (K ≥ 2)"
        )
    return sorted(set(ks))


def cluster_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean of each cluster's rows ``(K, feature)``; an empty cluster is NaN."""
    out = np.full((k, x.shape[1]), np.nan)
    for c in range(k):
        if (labels == c).any():
            out[c] = x[labels == c].mean(0)
    return out


def classifiability(means: Sequence[np.ndarray]) -> float:
    """Michelangeli et al. (1995) classifiability index of partitions given by their cluster
    means (each ``(K, feature)``): mean over ordered pairs of partitions of the minimum over
    clusters of the best pattern correlation with the other partition's clusters."""
    from dsc_core.regimes import pattern_correlations

    values = []
    for a, b in (pair for i, j in combinations(range(len(means)), 2)
                 for pair in ((means[i], means[j]), (means[j], means[i]))):  # fmt: skip
        a, b = a[np.isfinite(a).all(1)], b[np.isfinite(b).all(1)]
        values.append(float(pattern_correlations(a, b).max(1).min()))
    return float(np.mean(values)) if values else float("nan")


def scores_for_k(x: np.ndarray, partitions: Sequence[np.ndarray], k: int, seed: int = 0) -> dict:
    """The four measures (module doc) of the seeds' ``partitions`` of the rows of ``x``."""
    from sklearn.metrics import silhouette_score

    from dsc_core.metrics import stability
    from dsc_core.significance import explained_share

    rng = np.random.default_rng(seed)
    sub = rng.choice(len(x), min(len(x), SILHOUETTE_DAYS), replace=False)
    explained, silhouettes = [], []
    for labels in partitions:
        explained.append(explained_share(x, labels))
        ok = len(np.unique(labels[sub])) >= 2
        silhouettes.append(silhouette_score(x[sub], labels[sub]) if ok else np.nan)
    return {
        "K": k,
        "seed_agreement": stability(partitions) if len(partitions) >= 2 else float("nan"),
        "classifiability": classifiability([cluster_means(x, p, k) for p in partitions]),
        "silhouette": float(np.nanmean(silhouettes)),
        "variance_explained": float(np.mean(explained)),
    }


def choose_k(
    config: RunConfig,
    ks: Iterable[int],
    seeds: int = 3,
    data: Any = None,
    progress: Callable[[str], None] | None = None,
    callbacks: Iterable[Callable] = (),
    max_minutes: float | None = None,
) -> pd.DataFrame:
    """Fit ``config.method`` for every K in ``ks`` with seeds ``config.seed`` … +``seeds``−1
    on ``config``'s data (loaded and preprocessed once); one row per K (module doc), plus the
    seconds it took. ``progress(message)`` hears of each fit; ``callbacks`` go to the
    estimators (training events; raising Cancelled stops).

    ``max_minutes`` bounds the whole measurement: no fit starts that the mean fit so far says
    would end past it, and a training still running at the limit is stopped. The table then
    holds the K's measured in full (``attrs["unmeasured"]`` lists the others); ConfigError when
    not even the first K was."""
    import time

    from dsc_core.baselines import make_estimator
    from dsc_core.features import flatten_valid

    if seeds < 2:
        raise ConfigError(f"--seeds must be at least 2 to measure agreement, got {seeds}")
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f"the time budget must be a positive number of minutes: {max_minutes}")
    ks = list(ks)
    progress = progress or (lambda message: None)
    began = time.perf_counter()
    deadline = began + max_minutes * 60 if max_minutes else float("inf")

    def in_time(event) -> None:
        if time.perf_counter() > deadline:
            raise _OutOfTime

    prepared = prepare(replace(config, clusters=max(ks)), data)
    x = flatten_valid(prepared.X, prepared.mask)
    rows, fits = [], []
    try:
        for k in ks:
            start = time.perf_counter()
            partitions = []
            for seed in range(config.seed, config.seed + seeds):
                if fits and time.perf_counter() + np.mean(fits) > deadline:
                    raise _OutOfTime
                progress(f"K={k}, seed {seed}")
                params = estimator_params(config, [*callbacks, in_time])
                est = make_estimator(config.method, k, random_state=seed, **params)
                fit_start = time.perf_counter()
                est.fit(prepared.X, mask=prepared.mask, time=prepared.days)
                fits.append(time.perf_counter() - fit_start)
                partitions.append(np.asarray(est.labels_, dtype=np.int64))
            row = scores_for_k(x, partitions, k, seed=config.seed)
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
    except _OutOfTime:
        if not rows:
            raise ConfigError(
                f"Measure K's time budget of {max_minutes:g} min ran out before K={ks[0]} was "
                f"measured with {seeds} seeds: fewer seeds, fewer days or a faster preset"
            ) from None
        progress(f"time budget of {max_minutes:g} min reached: K={rows[-1]['K']} was the last")
    table = pd.DataFrame(rows).set_index("K")
    table.attrs["unmeasured"] = ks[len(rows) :]
    return table


class _OutOfTime(Exception):
    """Measure K's time budget ran out (caught in :func:`choose_k`)."""
