"""Scores of a clustering of days: internal (the paper's), against a truth, regime statistics.

Conventions: ``features`` is float (day, n_features), the paper's metric input (min-max scaled,
flattened fields, see :func:`dsc_core.preprocess.paper_features`); ``labels`` is int (day,),
cluster ids ``0..K-1``. Every function returns plain Python numbers/lists, so the result is
JSON-able; scores that are undefined for the given labels are ``None`` with a ``note``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from sklearn import metrics as skm

from dsc_core.errors import ConfigError

INTERNAL_KEYS = (
    "silhouette_cosine",
    "silhouette_euclidean",
    "davies_bouldin",
    "calinski_harabasz",
    "rmse",
    "variance",
    "inter_cluster_distance",
    "variance_paper",
    "inter_cluster_distance_paper",
)
"""Keys of :func:`internal_scores` that hold a score (besides ``n_clusters`` and ``note``)."""

HIGHER_IS_BETTER = {
    "silhouette_cosine": True,
    "silhouette_euclidean": True,
    "davies_bouldin": False,
    "calinski_harabasz": True,
    "rmse": False,
    "variance": False,
    "inter_cluster_distance": True,
    "variance_paper": False,
    "inter_cluster_distance_paper": True,
    "ari": True,
    "nmi": True,
    "stability": True,
}
"""Direction of every score, for tables and the dashboard."""


def _as_labels(labels) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ConfigError(f"labels must be one-dimensional (day,), got shape {arr.shape}")
    return arr.astype(np.int64)


PAPER_DISTANCE_DAYS = 3000
"""Above this many days the paper's inter-cluster distance (all pairs of days) is computed on a
seeded sample of this many days, and the score's note says so."""


def paper_variance(x: np.ndarray, labels: np.ndarray) -> float:
    """The paper's variance: Σ_c n_c · var(all entries of cluster c's (n_c × feature) matrix)
    / n."""
    return float(
        sum((labels == c).sum() * x[labels == c].var() for c in np.unique(labels)) / len(x)
    )


def paper_inter_cluster_distance(
    x: np.ndarray, labels: np.ndarray, seed: int = 0
) -> tuple[float, bool]:
    """The paper's inter-cluster distance: the mean of a K × K matrix whose off-diagonal entries
    are the distance between the nearest members of two clusters and whose diagonal holds each
    cluster's diameter (its farthest pair). Returns (score, whether days were subsampled)."""
    sampled = len(x) > PAPER_DISTANCE_DAYS
    if sampled:
        keep = np.sort(
            np.random.default_rng(seed).choice(len(x), PAPER_DISTANCE_DAYS, replace=False)
        )
        x, labels = x[keep], labels[keep]
    d = skm.pairwise_distances(x)
    clusters = np.unique(labels)
    members = [labels == c for c in clusters]
    m = np.array([[d[np.ix_(a, b)].max() if i == j else d[np.ix_(a, b)].min()
                   for j, b in enumerate(members)] for i, a in enumerate(members)])  # fmt: skip
    return float(m.mean()), sampled


def _centroids(x: np.ndarray, labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Cluster means, float64 (cluster, n_features), one row per id in ``clusters``."""
    return np.stack([x[labels == c].mean(axis=0) for c in clusters])


def internal_scores(features: np.ndarray, labels) -> dict:
    """The paper's internal scores of a partition of days.

    features: float (day, n_features). labels: int (day,).
    Returns silhouette (cosine and euclidean), Davies–Bouldin, Calinski–Harabasz
    (scikit-learn), ``rmse`` = sqrt(Σ_days ‖x − own centroid‖² / n_days), ``variance`` =
    size-weighted mean within-cluster variance (averaged over features),
    ``inter_cluster_distance`` = mean pairwise euclidean distance between centroids, and the
    paper's own definitions of the last two: ``variance_paper`` (:func:`paper_variance`) and
    ``inter_cluster_distance_paper`` (:func:`paper_inter_cluster_distance`),
    ``n_clusters`` (clusters actually used) and ``note`` (why a score is None, else None).
    """
    x = np.asarray(features, dtype=np.float64)
    lab = _as_labels(labels)
    if x.ndim != 2 or x.shape[0] != lab.shape[0]:
        raise ConfigError(
            f"features must be (day, n_features) with one row per label, got {x.shape} "
            f"for {lab.shape[0]} labels"
        )
    n_days = x.shape[0]
    clusters = np.unique(lab)
    k = len(clusters)
    cent = _centroids(x, lab, clusters)
    own = cent[np.searchsorted(clusters, lab)]
    sq = ((x - own) ** 2).sum(axis=1)
    rmse = float(np.sqrt(sq.sum() / n_days))
    # size-weighted mean over clusters of (mean over features of the within-cluster variance):
    # Σ_c n_c/n · Σ_{i∈c} ‖x_i − μ_c‖² / (n_c · F), which reduces to Σ_i ‖x_i − μ_c‖² / (n · F)
    variance = float(sq.sum() / n_days / max(x.shape[1], 1))

    out: dict = {key: None for key in INTERNAL_KEYS}
    out.update(rmse=rmse, variance=variance, n_clusters=int(k), note=None)
    out["variance_paper"] = paper_variance(x, lab)
    if k >= 2:
        d = np.sqrt(((cent[:, None, :] - cent[None, :, :]) ** 2).sum(axis=-1))
        out["inter_cluster_distance"] = float(d[np.triu_indices(k, 1)].mean())
        out["inter_cluster_distance_paper"], sampled = paper_inter_cluster_distance(x, lab)
        if sampled:
            out["note"] = (
                f"the paper's inter-cluster distance is computed on a seeded sample of "
                f"{PAPER_DISTANCE_DAYS} of the {n_days} days (it compares all pairs of days)"
            )
    if 2 <= k <= n_days - 1:
        out["silhouette_cosine"] = float(skm.silhouette_score(x, lab, metric="cosine"))
        out["silhouette_euclidean"] = float(skm.silhouette_score(x, lab, metric="euclidean"))
        out["davies_bouldin"] = float(skm.davies_bouldin_score(x, lab))
        out["calinski_harabasz"] = float(skm.calinski_harabasz_score(x, lab))
    elif k < 2:
        out["note"] = (
            "only one cluster was predicted: silhouette, Davies-Bouldin, Calinski-Harabasz "
            "and inter-cluster distance are undefined"
        )
    else:
        out["note"] = (
            "every day is its own cluster: silhouette, Davies-Bouldin and Calinski-Harabasz "
            "are undefined"
        )
    return out


def truth_scores(labels, truth) -> dict:
    """Agreement with a known partition: adjusted Rand index and normalised mutual information.

    labels, truth: int (day,). Returns ``{"ari": float, "nmi": float}``.
    """
    lab, tru = _as_labels(labels), _as_labels(truth)
    if lab.shape != tru.shape:
        raise ConfigError(f"labels {lab.shape} and truth {tru.shape} must have the same length")
    return {
        "ari": float(skm.adjusted_rand_score(tru, lab)),
        "nmi": float(skm.normalized_mutual_info_score(tru, lab)),
    }


def _spells(lab: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoding: (cluster of each spell, length of each spell).

    ``breaks`` is bool (day,): True where a new spell must start (a gap in time).
    """
    start = np.ones(len(lab), dtype=bool)
    start[1:] = (lab[1:] != lab[:-1]) | breaks[1:]
    idx = np.flatnonzero(start)
    lengths = np.diff(np.append(idx, len(lab)))
    return lab[idx], lengths


def regime_stats(labels, n_clusters: int | None = None, time=None) -> dict:
    """Occurrence, persistence and transitions of the clusters along time.

    labels: int (day,) in time order. n_clusters: K (default: max label + 1). time: optional
    datetime64 (day,); a gap of more than one day ends a spell and is not a transition.
    Returns (lists indexed by cluster):
    ``counts``, ``frequency`` (share of days), ``mean_spell`` (days; None for an absent
    cluster), ``mean_spell_overall``, ``spells`` (every spell's length, in time order),
    ``spell_histogram`` ({"length": [1..max], "counts": (cluster, length)}),
    ``transition_counts`` (from-row, to-column, day-to-day incl. staying) and ``transition``
    (row-normalised; a row with no successor is all zeros).
    """
    lab = _as_labels(labels)
    if len(lab) == 0:
        raise ConfigError("no days to compute regime statistics on; select a longer period")
    k = int(n_clusters) if n_clusters is not None else int(lab.max()) + 1
    if lab.min() < 0 or lab.max() >= k:
        raise ConfigError(f"labels must lie in 0..{k - 1}, got {lab.min()}..{lab.max()}")
    breaks = np.zeros(len(lab), dtype=bool)
    if time is not None:
        t = np.asarray(time, dtype="datetime64[ns]")
        breaks[1:] = np.diff(t) > np.timedelta64(1, "D")
    spell_cluster, spell_len = _spells(lab, breaks)

    counts = np.bincount(lab, minlength=k)
    spells = [spell_len[spell_cluster == c].tolist() for c in range(k)]
    mean_spell = [float(np.mean(s)) if s else None for s in spells]
    max_len = int(spell_len.max())
    hist = np.zeros((k, max_len), dtype=np.int64)
    np.add.at(hist, (spell_cluster, spell_len - 1), 1)

    trans = np.zeros((k, k), dtype=np.int64)
    ok = ~breaks[1:]
    np.add.at(trans, (lab[:-1][ok], lab[1:][ok]), 1)
    rows = trans.sum(axis=1, keepdims=True)
    norm = np.divide(trans, rows, out=np.zeros((k, k)), where=rows > 0)
    return {
        "n_clusters": k,
        "counts": counts.tolist(),
        "frequency": (counts / len(lab)).tolist(),
        "mean_spell": mean_spell,
        "mean_spell_overall": float(spell_len.mean()),
        "spells": spells,
        "spell_histogram": {"length": list(range(1, max_len + 1)), "counts": hist.tolist()},
        "transition_counts": trans.tolist(),
        "transition": norm.tolist(),
    }


def stability(labelings: Sequence) -> float:
    """Mean adjusted Rand index over all pairs of labelings (e.g. fits with different seeds).

    labelings: two or more int arrays (day,) of the same length.
    """
    labs = [_as_labels(lab) for lab in labelings]
    if len(labs) < 2:
        raise ConfigError("stability needs at least two labelings (use two or more seeds)")
    if len({lab.shape for lab in labs}) != 1:
        raise ConfigError("all labelings must have the same number of days")
    return float(np.mean([skm.adjusted_rand_score(a, b) for a, b in combinations(labs, 2)]))
