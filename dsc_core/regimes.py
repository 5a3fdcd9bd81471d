"""Regimes as objects that last: persistence filtering, a stable order of the clusters, and
matching the clusters of two runs by their patterns.

Labels are int ``(day,)`` in time order; ``time`` (datetime64 ``(day,)``, optional) marks gaps
(a step of more than one day): a spell never runs across a gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from dsc_core.errors import ConfigError


def _block_starts(n: int, time: Any) -> np.ndarray:
    """bool (day,): True where a run of consecutive days starts."""
    starts = np.zeros(n, dtype=bool)
    if n:
        starts[0] = True
    if time is not None and n > 1:
        t = np.asarray(time, dtype="datetime64[ns]")
        starts[1:] = np.diff(t) > np.timedelta64(1, "D")
    return starts


def min_spell_filter(labels: Any, min_spell: int, time: Any = None) -> np.ndarray:
    """Labels where every spell shorter than ``min_spell`` days has joined a neighbouring
    regime, as many regime studies do.

    The shortest spell goes first (the earliest among equals); it takes the regime of the
    longer of its neighbours in the same run of consecutive days (the earlier one on a tie);
    merged spells count as one. A spell with no neighbour (a run of days shorter than
    ``min_spell`` holding one regime) is kept. ``min_spell`` ≤ 1 changes nothing.
    """
    lab = np.asarray(labels, dtype=np.int64).copy()
    if not isinstance(min_spell, int | np.integer) or min_spell < 1:
        raise ConfigError(f"min_spell must be an integer >= 1 (days), got {min_spell!r}")
    if min_spell <= 1 or len(lab) == 0:
        return lab
    starts = _block_starts(len(lab), time)
    new = starts.copy()
    new[1:] |= lab[1:] != lab[:-1]
    idx = np.flatnonzero(new)
    # spells as [label, length, block]; merging edits these lists, then they are expanded
    spell_label = lab[idx].tolist()
    spell_len = np.diff(np.append(idx, len(lab))).tolist()
    spell_block = np.cumsum(starts)[idx].tolist()
    while True:
        short = [i for i, n in enumerate(spell_len) if n < min_spell]
        candidates = []
        for i in short:
            sides = [j for j in (i - 1, i + 1)
                     if 0 <= j < len(spell_len) and spell_block[j] == spell_block[i]]  # fmt: skip
            if sides:
                candidates.append((spell_len[i], i, max(sides, key=lambda j: (spell_len[j], -j))))
        if not candidates:
            break
        _, i, j = min(candidates)
        spell_label[i] = spell_label[j]
        # merge runs of equal labels within the block around i
        lo, hi = i, i
        while (
            lo > 0
            and spell_block[lo - 1] == spell_block[i]
            and spell_label[lo - 1] == spell_label[i]
        ):
            lo -= 1
        while (hi + 1 < len(spell_len) and spell_block[hi + 1] == spell_block[i]
               and spell_label[hi + 1] == spell_label[i]):  # fmt: skip
            hi += 1
        spell_len[lo : hi + 1] = [sum(spell_len[lo : hi + 1])]
        spell_label[lo : hi + 1] = [spell_label[i]]
        spell_block[lo : hi + 1] = [spell_block[i]]
    return np.repeat(np.asarray(spell_label, dtype=np.int64), spell_len)


def frequency_order(labels: Any, n_clusters: int) -> np.ndarray:
    """int (K,): the cluster ids from the most to the least frequent (ties: lower id first);
    entry r is the old id of new cluster r."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_clusters)
    return np.argsort(-counts, kind="stable")


def relabel(labels: Any, order: np.ndarray) -> np.ndarray:
    """Labels renamed by ``order`` (entry r = old id of new cluster r)."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[np.asarray(order)] = np.arange(len(order))
    return rank[np.asarray(labels, dtype=np.int64)]


def pattern_correlations(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None):
    """Centred pattern correlations ``(K_a, K_b)`` between the maps of ``a`` ``(K_a, cell)`` and
    ``b`` ``(K_b, cell)``; NaN cells are left out; ``weights`` ``(cell,)`` (e.g. cos latitude)."""
    ok = np.isfinite(a).all(0) & np.isfinite(b).all(0)
    w = np.ones(ok.sum()) if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    a, b = a[:, ok].astype(np.float64), b[:, ok].astype(np.float64)
    a = a - (a * w).sum(1, keepdims=True) / w.sum()
    b = b - (b * w).sum(1, keepdims=True) / w.sum()
    cov = (a * w) @ b.T
    norm = np.sqrt(np.outer((a * a * w).sum(1), (b * b * w).sum(1)))
    return np.divide(cov, norm, out=np.zeros_like(cov), where=norm > 0)


def match_clusters(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None):
    """Match the clusters of run B to those of run A by their composite patterns
    (Hungarian assignment maximising the summed pattern correlation).

    a, b: composite anomalies ``(K, cell)`` of two runs. Returns ``(pairs, correlations)``:
    int ``(m, 2)`` rows (cluster of A, cluster of B), m = min(K_a, K_b), and the matched
    pattern correlation of each pair.
    """
    corr = pattern_correlations(a, b, weights)
    rows, cols = linear_sum_assignment(-corr)
    return np.stack([rows, cols], axis=1), corr[rows, cols]


def compare_runs(a: Any, b: Any) -> dict:
    """Two runs (:class:`dsc_core.runs.Run`) side by side on the days they share.

    Returns ``n_days``; ``ari`` (adjusted Rand index of the two labellings); ``contingency``
    int ``(K_a, K_b)`` (days in cluster i of A and j of B); and, when both runs have the same
    variables and grid, ``pairs`` (A's cluster, B's matched cluster) with their composite
    anomaly ``correlations`` (all variables, cells weighted by cos latitude), else None.
    """
    from sklearn.metrics import adjusted_rand_score

    la, lb = a.labels, b.labels
    days = np.intersect1d(la["time"].values, lb["time"].values)
    if len(days) == 0:
        raise ConfigError("the two runs share no day: compare runs over overlapping periods")
    ya, yb = la.sel(time=days).values, lb.sel(time=days).values
    ka, kb = a.config.clusters, b.config.clusters
    table = np.zeros((ka, kb), dtype=np.int64)
    np.add.at(table, (ya, yb), 1)
    out = {"n_days": len(days), "ari": float(adjusted_rand_score(ya, yb)), "contingency": table}
    ca, cb = a.composites["anomaly"], b.composites["anomaly"]
    same = (
        list(ca["variable"].values) == list(cb["variable"].values)
        and ca.shape[1:] == cb.shape[1:]
        and np.allclose(ca["latitude"], cb["latitude"])
        and np.allclose(ca["longitude"], cb["longitude"])
    )
    out["pairs"] = out["correlations"] = None
    if same:
        weights = np.broadcast_to(np.cos(np.deg2rad(ca["latitude"].values))[:, None], ca.shape[2:])
        weights = np.broadcast_to(weights, ca.shape[1:]).reshape(-1)
        pairs, corr = match_clusters(ca.values.reshape(ka, -1), cb.values.reshape(kb, -1), weights)
        out["pairs"], out["correlations"] = pairs, corr
    return out
