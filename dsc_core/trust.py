"""Can a run's clusters be trusted? Four checks that run by default, one on request.

- **Structure against red noise** (:func:`structure_test`, every run): does the data hold
  clusters at all? k-means on the leading principal components is ranked among the same
  clustering of AR(1) surrogates with the same variances, lag-1 autocorrelations and means of
  each year, and no regimes (WRtool's test, Straus et al. 2007, with a fast method so that
  it costs about a second). Below ``THRESHOLDS.structure`` the data may hold no regimes,
  and whatever a method finds is noise.
- **Odd one out** (every run): the run's labels against classical references fitted on the
  same data (k-means; PCA + Gaussian mixture). When the references agree with each other
  and the run agrees with neither, the run is the one that found something else: it names
  the reference to compare with.
- **Head agreement** (every DSC run with the "consensus" head, at no cost): the candidate
  clusterings of the latent space, one per way of measuring distances
  (:func:`dsc_core.training.initial_clusters`), agree with each other on data with regimes
  and disagree on noise. Low agreement warns by itself; high agreement silences the red-noise
  test's warning: where DSC's windows find regimes the data's k-means does not (regimes below
  larger noise modes, short records) that test fails on real regimes.
- **Years** (every run with dates over at least three years): regimes recur every year, so
  clusters that coincide with the years (a warm winter against a cold one) are not regimes.
  DSC itself trains again on the days less each year's mean when its first clusters do
  (:data:`dsc_core.estimator.YEARS_FOLLOWED`); a run whose clusters still follow the years
  warns. The odd-one-out check does not compare such a DSC run with references fitted on the
  days with their years' means (which agree with each other on the years).
- **Seed agreement** (``check_stability``): the run refitted with another seed, beside the
  references' own seed agreement.

The thresholds were calibrated on the validation suite's "choose" half and their hit and
false-alarm rates reported on its "report" half (``benchmarks/suite.py``, README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from dsc_core.data.calendar import day_blocks, year_blocks
from dsc_core.significance import explained_share, red_noise

STRUCTURE_SURROGATES = 39
STRUCTURE_COMPONENTS = 10


@dataclass(frozen=True)
class Thresholds:
    """When a check warns. ``structure``: the data's k-means clusters must beat this share
    (%) of red-noise ones. ``references_agree`` / ``odd_one_out``: references that agree at
    least this much (ARI) make a case against a run that agrees with none of them above
    ``odd_one_out``. ``unstable`` / ``unstable_margin``: seed agreement below ``unstable``
    and ``unstable_margin`` below the steadiest reference's. ``truth``: how much worse than
    the best reference a run may recover planted regimes (synthetic data). ``head``: DSC's
    candidate heads agreeing less than this (mean ARI of the chosen one with the others)
    warn; ``structure_head``: at or above this agreement the red-noise test does not warn,
    unless the data rank below ``structure_floor`` % of the surrogates (less clustered than
    nearly all red noise). ``years``: clusters agreeing at least this much with the years of
    the record (:func:`year_agreement`) warn."""

    structure: float = 95.0
    head: float = 0.4
    structure_head: float = 0.4
    structure_floor: float = 5.0
    references_agree: float = 0.5
    odd_one_out: float = 0.35
    unstable: float = 0.6
    unstable_margin: float = 0.15
    truth: float = 0.05
    years: float = 0.5


THRESHOLDS = Thresholds()
"""The calibrated thresholds (module docstring)."""


def structure_test(
    pcs: np.ndarray,
    n_clusters: int,
    time: Any = None,
    seed: int = 0,
    n_surrogates: int = STRUCTURE_SURROGATES,
    n_components: int = STRUCTURE_COMPONENTS,
    smooth: int = 1,
) -> dict:
    """Rank k-means on ``pcs`` (day, component; the leading ``n_components`` are used) among
    ``n_surrogates`` AR(1) surrogates of them (gaps in ``time`` restart the series). ``smooth``
    > 1: k-means of the running means over that many days (within each run of consecutive
    days), of the data and of every surrogate alike. Returns ``statistic`` (share of the
    variance explained by the cluster means), ``null`` (the surrogates'), ``percentile`` (share
    of surrogates below, %), and the sizes.
    """
    x = np.asarray(pcs, np.float64)[:, :n_components]
    blocks = day_blocks(time) if time is not None else np.zeros(len(x), np.int64)

    def share(data: np.ndarray, state: int) -> float:
        data = running_mean(data, smooth, blocks)
        labels = KMeans(n_clusters, n_init=4, random_state=state).fit_predict(data)
        return explained_share(data, labels)

    statistic = share(x, seed)
    rng = np.random.default_rng(seed)
    null = np.array([share(red_noise(x, time, rng), seed + 1 + i) for i in range(n_surrogates)])
    return {
        "statistic": statistic,
        "null": null.tolist(),
        "percentile": float(100 * (null < statistic).mean()),
        "n_surrogates": int(n_surrogates),
        "n_components": int(x.shape[1]),
    }


def running_mean(x: np.ndarray, days: int, blocks: np.ndarray) -> np.ndarray:
    """(day, component): the mean over the ``days`` days centred on each day, within its run
    of consecutive days (``blocks``, :func:`dsc_core.data.calendar.day_blocks`; shorter at the
    ends of a run). ``days`` ≤ 1: ``x`` itself."""
    if days <= 1:
        return x
    half = days // 2
    out = np.empty_like(x)
    for block in np.unique(blocks):
        rows = np.flatnonzero(blocks == block)
        sums = np.vstack([np.zeros(x.shape[1]), np.cumsum(x[rows], axis=0)])
        lo = np.clip(np.arange(len(rows)) - half, 0, len(rows))
        hi = np.clip(np.arange(len(rows)) + half + 1, 0, len(rows))
        out[rows] = (sums[hi] - sums[lo]) / (hi - lo)[:, None]
    return out


def _ari(a: Any, b: Any) -> float:
    return float(adjusted_rand_score(np.asarray(a), np.asarray(b)))


MIN_YEARS = 3
"""Records of fewer years (season-years of a season-only record) are not checked against
their years."""


def year_agreement(labels: Any, time: Any) -> float | None:
    """ARI between clusters ``labels`` (day,) and the year of each day of ``time`` (its
    season-year in a season-only record: :func:`~dsc_core.data.calendar.year_blocks`); None
    with fewer than :data:`MIN_YEARS` years. Regimes recur every year: clusters that follow
    the years separate one year's anomalies from another's."""
    years = year_blocks(time)
    if len(np.unique(years)) < MIN_YEARS:
        return None
    return _ari(years, labels)


def head_agreement(head: dict | None) -> float | None:
    """The chosen clustering head's mean agreement (ARI) with the other candidates, from a
    DSC estimator's ``head_`` (None when its head was not chosen by consensus)."""
    votes = (head or {}).get("agreement") or {}
    return float(max(votes.values())) if votes else None


def trust_checks(
    method: str,
    labels: Any,
    references: dict[str, Any],
    structure: dict | None = None,
    seed_labels: Any = None,
    reference_seed_labels: dict[str, Any] | None = None,
    truth: Any = None,
    thresholds: Thresholds = THRESHOLDS,
    head: dict | None = None,
    time: Any = None,
    years_removed: float | None = None,
) -> dict:
    """Whether a run's clusters can be trusted (module docstring).

    labels: the run's (day,); references: {method: labels} of classical references fitted
    on the same data (k-means first); structure: a :func:`structure_test` result;
    seed_labels / reference_seed_labels: the same methods refitted with another seed
    (optional); truth: planted regimes (synthetic data); head: the DSC estimator's ``head_``;
    time: the days' dates; years_removed: the DSC estimator's ``years_removed_``.

    Returns {"agreement": {reference: ARI with the run}, "references_agree" (ARI between
    the first two references), "agreement_with_kmeans", "seed_agreement",
    "reference_seed_agreement": {reference: ARI}, "kmeans_seed_agreement", "truth_ari":
    {method or reference: ARI} (with a truth), "structure", "head_agreement"
    (:func:`head_agreement`), "year_agreement" (:func:`year_agreement`, None without
    ``time``), "years_removed", "warnings": [plain sentences]
    (:func:`warnings_for`)}.
    """
    names = [n for n in references if n != method]
    out: dict = {
        "agreement": {n: _ari(references[n], labels) for n in names},
        "references_agree": None,
        "agreement_with_kmeans": None,
        "seed_agreement": None,
        "reference_seed_agreement": {},
        "kmeans_seed_agreement": None,
        "truth_ari": None,
        "structure": structure,
        "head_agreement": head_agreement(head),
        "year_agreement": None if time is None else year_agreement(labels, time),
        "years_removed": years_removed,
    }
    out["agreement_with_kmeans"] = out["agreement"].get("kmeans")
    if len(names) >= 2:
        out["references_agree"] = _ari(references[names[0]], references[names[1]])
    if seed_labels is not None:
        out["seed_agreement"] = _ari(labels, seed_labels)
        again = reference_seed_labels or {}
        out["reference_seed_agreement"] = {
            n: _ari(references[n], again[n]) for n in names if n in again
        }
        out["kmeans_seed_agreement"] = out["reference_seed_agreement"].get("kmeans")
    if truth is not None:
        out["truth_ari"] = {method: _ari(truth, labels)}
        out["truth_ari"].update({n: _ari(truth, references[n]) for n in names})
    out["warnings"] = warnings_for(method, out, thresholds)
    return out


def warnings_for(method: str, checks: dict, thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """The plain-sentence warnings of the numbers :func:`trust_checks` gathered, under
    ``thresholds`` (the suite re-reads stored numbers with other thresholds to calibrate)."""
    t, warnings = thresholds, []
    structure, heads = checks.get("structure"), checks.get("head_agreement")
    if heads is not None and heads < t.head:
        warnings.append(
            f"{method}'s candidate clusterings of its latent space disagree (the chosen one "
            f"agrees with the others at ARI {heads:.2f}; {t.head:.2f} needed): its clusters "
            "depend on how distances are measured and may be noise. Try other variables, a "
            "season, or fewer clusters."
        )
    percentile = structure["percentile"] if structure is not None else 100.0
    steady = heads is not None and heads >= t.structure_head and percentile >= t.structure_floor
    if percentile < t.structure and not steady:
        warnings.append(
            f"the data's clusters are no more distinct than red noise's (k-means on the "
            f"leading {structure['n_components']} principal components beats "
            f"{structure['percentile']:.0f} % of {structure['n_surrogates']} red-noise "
            f"surrogates; {t.structure:.0f} % needed): there may be no regimes in this "
            "selection, and the clusters may be noise. Try other variables, a season, or "
            "fewer clusters."
        )
    years = checks.get("year_agreement")
    if years is not None and years >= t.years:
        warnings.append(
            f"{method}'s clusters follow the years of the record (ARI {years:.2f} between "
            f"clusters and years; below {t.years:.2f} needed): they separate one year's "
            "anomalies from another's, not regimes that recur every year. Try a longer record, "
            "other variables, or fewer clusters."
        )
    agreement = checks.get("agreement") or {}
    both = checks.get("references_agree")
    # DSC trained without each year's mean: references that kept it are not its yardstick
    if both is not None and len(agreement) >= 2 and checks.get("years_removed") is None:
        a, b = list(agreement)[:2]
        best = max(agreement, key=agreement.get)
        if both >= t.references_agree and agreement[best] < t.odd_one_out:
            warnings.append(
                f"{a} and {b} agree with each other (ARI {both:.2f}) but not with {method} "
                f"(ARI {agreement[a]:.2f} and {agreement[b]:.2f}): {method}'s clusters may "
                f"follow noise; compare with the {best} reference before use."
            )
    steady = checks.get("reference_seed_agreement") or {}
    own = checks.get("seed_agreement")
    if own is not None and steady:
        best = max(steady, key=steady.get)
        if own < t.unstable and own < steady[best] - t.unstable_margin:
            warnings.append(
                f"{method} agrees with itself less than {best} does (ARI between two seeds "
                f"{own:.2f}, {best} {steady[best]:.2f}): its clusters may be noise; compare "
                f"with the {best} reference before use."
            )
    scored = dict(checks.get("truth_ari") or {})
    if scored and len(scored) > 1:
        ari = scored.pop(method)
        best = max(scored, key=scored.get)
        if ari < scored[best] - t.truth:
            warnings.append(
                f"{method} recovers the known regimes worse than {best} (ARI {ari:.2f} vs "
                f"{scored[best]:.2f})."
            )
    return warnings
