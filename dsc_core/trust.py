"""Can a run's clusters be trusted? Two checks that run by default, one on request.

- **Structure against red noise** (:func:`structure_test`, every run): does the data hold
  clusters at all? k-means on the leading principal components is ranked among the same
  clustering of AR(1) surrogates with the same variances and lag-1 autocorrelations and no
  regimes (WRtool's test, Straus et al. 2007, with a fast method so that it costs about a
  second). Below :data:`STRUCTURE_PERCENTILE` the data may hold no regimes, and whatever a
  method finds is noise.
- **Odd one out** (every run): the run's labels against classical references fitted on the
  same data (k-means; PCA + Gaussian mixture). When the references agree with each other
  and the run agrees with neither, the run is the one that found something else: it names
  the reference to compare with.
- **Seed agreement** (``check_stability``): the run refitted with another seed, beside the
  references' own seed agreement.

The thresholds were calibrated on the validation suite's "choose" half and their hit and
false-alarm rates reported on its "report" half (``benchmarks/suite.py``, README).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from dsc_core.significance import explained_share, red_noise

STRUCTURE_PERCENTILE = 95.0
"""The data's k-means clusters must be more distinct than this share of red-noise ones."""
STRUCTURE_SURROGATES = 39
STRUCTURE_COMPONENTS = 10
REFERENCES_AGREE = 0.5
"""References that agree at least this much (ARI) make a case against a run that agrees with
neither of them below :data:`ODD_ONE_OUT`."""
ODD_ONE_OUT = 0.35
UNSTABLE = 0.6
"""Seed agreement below this, and :data:`UNSTABLE_MARGIN` below the references', is flagged."""
UNSTABLE_MARGIN = 0.15
TRUTH_TOLERANCE = 0.05


def structure_test(
    pcs: np.ndarray,
    n_clusters: int,
    time: Any = None,
    seed: int = 0,
    n_surrogates: int = STRUCTURE_SURROGATES,
) -> dict:
    """Rank k-means on ``pcs`` (day, component; the leading :data:`STRUCTURE_COMPONENTS`
    are used) among ``n_surrogates`` AR(1) surrogates of them (gaps in ``time`` restart the
    series). Returns ``statistic`` (share of the variance explained by the cluster means),
    ``null`` (the surrogates'), ``percentile`` (share of surrogates below, %), and the sizes.
    """
    x = np.asarray(pcs, np.float64)[:, :STRUCTURE_COMPONENTS]

    def share(data: np.ndarray, state: int) -> float:
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


def _ari(a: Any, b: Any) -> float:
    return float(adjusted_rand_score(np.asarray(a), np.asarray(b)))


def trust_checks(
    method: str,
    labels: Any,
    references: dict[str, Any],
    structure: dict | None = None,
    seed_labels: Any = None,
    reference_seed_labels: dict[str, Any] | None = None,
    truth: Any = None,
) -> dict:
    """Whether a run's clusters can be trusted (module docstring).

    labels: the run's (day,); references: {method: labels} of classical references fitted
    on the same data (the first is the main one, k-means); structure: a
    :func:`structure_test` result; seed_labels / reference_seed_labels: the same methods
    refitted with another seed (optional); truth: planted regimes (synthetic data).

    Returns {"agreement": {reference: ARI with the run}, "references_agree" (ARI between
    the first two references), "agreement_with_kmeans", "seed_agreement",
    "kmeans_seed_agreement", "structure", "warnings": [plain sentences]}.
    """
    names = [n for n in references if n != method]
    out: dict = {
        "agreement": {n: _ari(references[n], labels) for n in names},
        "references_agree": None,
        "agreement_with_kmeans": None,
        "seed_agreement": None,
        "kmeans_seed_agreement": None,
        "structure": structure,
        "warnings": [],
    }
    warnings = out["warnings"]
    if "kmeans" in out["agreement"]:
        out["agreement_with_kmeans"] = out["agreement"]["kmeans"]
    if structure is not None and structure["percentile"] < STRUCTURE_PERCENTILE:
        warnings.append(
            f"the data's clusters are no more distinct than red noise's (k-means on the "
            f"leading {structure['n_components']} principal components beats "
            f"{structure['percentile']:.0f} % of {structure['n_surrogates']} red-noise "
            f"surrogates; {STRUCTURE_PERCENTILE:.0f} % needed): there may be no regimes in "
            "this selection, and the clusters may be noise. Try other variables, a season, "
            "or fewer clusters."
        )
    if len(names) >= 2:
        a, b = names[:2]
        out["references_agree"] = _ari(references[a], references[b])
        best = max(names, key=lambda n: out["agreement"][n])
        if out["references_agree"] >= REFERENCES_AGREE and out["agreement"][best] < ODD_ONE_OUT:
            warnings.append(
                f"{a} and {b} agree with each other (ARI {out['references_agree']:.2f}) but "
                f"not with {method} (ARI {out['agreement'][a]:.2f} and "
                f"{out['agreement'][b]:.2f}): {method}'s clusters may follow noise; compare "
                f"with the {best} reference before use."
            )
    if seed_labels is not None:
        out["seed_agreement"] = _ari(labels, seed_labels)
        again = reference_seed_labels or {}
        ref_agreement = {n: _ari(references[n], again[n]) for n in names if n in again}
        out["kmeans_seed_agreement"] = ref_agreement.get("kmeans")
        steadiest = max(ref_agreement, key=ref_agreement.get, default=None)
        if (
            steadiest is not None
            and out["seed_agreement"] < UNSTABLE
            and out["seed_agreement"] < ref_agreement[steadiest] - UNSTABLE_MARGIN
        ):
            warnings.append(
                f"{method} agrees with itself less than {steadiest} does (ARI between two "
                f"seeds {out['seed_agreement']:.2f}, {steadiest} "
                f"{ref_agreement[steadiest]:.2f}): its clusters may be noise; compare with "
                f"the {steadiest} reference before use."
            )
    if truth is not None and names:
        ari = _ari(truth, labels)
        scored = {n: _ari(truth, references[n]) for n in names}
        best = max(scored, key=scored.get)
        if ari < scored[best] - TRUTH_TOLERANCE:
            warnings.append(
                f"{method} recovers the known regimes worse than {best} (ARI {ari:.2f} vs "
                f"{scored[best]:.2f})."
            )
    return out
