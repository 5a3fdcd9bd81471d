"""The validation suite run: every method × seeds on synthetic cases with a planted truth.

Per case: ARI against the planted regimes (mean ± std over seeds), seed agreement (mean
pairwise ARI), fit seconds, and the single-day supervised ceiling — a cross-validated linear
discriminant on the leading principal components, i.e. what one day's maps allow at best.
The cases are :data:`dsc_core.data.synthetic.SUITE`; defaults are chosen on its "choose" half
and reported on its "report" half (``benchmarks/suite.py`` prints the table).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import KFold, cross_val_predict

from dsc_core.data.synthetic import Case, make_case
from dsc_core.metrics import stability

CLASSICAL = ("kmeans", "pca-kmeans", "pca-gmm", "agglomerative")
"""The classical baselines DSC must beat."""

TARGETS = {
    "margin_over_best_classical": 0.03,  # DSC's mean ARI ≥ best classical mean + this
    "below_kmeans": 0.05,  # on no case DSC's ARI < k-means' − this
    "agreement": 0.8,  # seed agreement on every case
    "fit_seconds": 60.0,  # up to 1500 days of 41 × 41 × 7 on 2 cores
}


@dataclass
class CaseData:
    """One case, loaded and preprocessed: ``X`` (day, variable, y, x) float32, ``mask`` (y, x),
    ``truth`` (day,) int, ``time`` (day,) datetime64, and its size for the table."""

    case: Case
    X: np.ndarray
    mask: np.ndarray
    truth: np.ndarray
    time: np.ndarray
    shape: tuple[int, int, int, int]  # days, variables, latitude, longitude


def prepare(case: Case, area_weighting: bool = True, clip: float | None = None) -> CaseData:
    """Build ``case``, load it as a file would be and preprocess it as a run does by default
    (seasonal cycle removed; cells weighted by √cos(latitude) unless ``area_weighting`` is
    False; z-scores clipped at ±``clip`` when given)."""
    from dsc_core.data import load
    from dsc_core.preprocess import Preprocessor

    ds = load(make_case(case))
    pre = Preprocessor(deseasonalize=True, area_weighting=area_weighting, clip=clip)
    X = pre.fit_transform(ds)
    names = pre.variables_
    shape = (int(ds.sizes["time"]), len(names), ds.sizes["latitude"], ds.sizes["longitude"])
    return CaseData(
        case=case,
        X=X,
        mask=pre.padded_mask_,
        truth=np.asarray(ds["regime"].values, np.int64),
        time=ds["time"].values,
        shape=shape,
    )


def supervised_ceiling(
    X: np.ndarray, mask: np.ndarray, truth: np.ndarray, n_components: int = 20, folds: int = 5
) -> float:
    """ARI of a linear discriminant trained on the truth, on the ``n_components`` leading PCs
    of single days, predicted out of fold (``folds`` contiguous blocks of days)."""
    flat = X[:, :, mask].reshape(len(X), -1).astype(np.float64)
    n = min(n_components, len(X) - 1, flat.shape[1])
    pcs = PCA(n, random_state=0).fit_transform(flat)
    pred = cross_val_predict(LinearDiscriminantAnalysis(), pcs, truth, cv=KFold(folds))
    return float(adjusted_rand_score(truth, pred))


def run_case(
    data: CaseData,
    methods: Sequence[str],
    seeds: int | Sequence[int],
    params: dict[str, Any] | None = None,
    callbacks: Iterable[Callable[[str, str, int, dict], None]] = (),
) -> dict:
    """Fit each method with ``seeds`` (a list, or a count: 0..seeds-1) on one prepared case.

    ``params`` go to every estimator (``make_estimator`` drops those a method does not use).
    Returns {"case", "description", "half", "shape", "ceiling", "methods": {method:
    {"runs": [{"seed", "ari", "seconds"}], "ari", "ari_std", "agreement", "seconds"}}}.
    """
    from dsc_core.baselines import make_estimator

    methods_out: dict[str, dict] = {}
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for method in methods:
        runs, labelings = [], []
        for seed in seed_list:
            est = make_estimator(method, data.case.n_regimes, random_state=seed, **(params or {}))
            t0 = time.perf_counter()
            est.fit(data.X, mask=data.mask, time=data.time)
            seconds = time.perf_counter() - t0
            labels = np.asarray(est.labels_, np.int64)
            labelings.append(labels)
            run = {"seed": seed, "ari": float(adjusted_rand_score(data.truth, labels))}
            run["seconds"] = seconds
            runs.append(run)
            for cb in callbacks:
                cb(data.case.name, method, seed, run)
        aris = [r["ari"] for r in runs]
        methods_out[method] = {
            "runs": runs,
            "ari": float(np.mean(aris)),
            "ari_std": float(np.std(aris)),
            "agreement": stability(labelings) if len(labelings) > 1 else None,
            "seconds": float(np.mean([r["seconds"] for r in runs])),
        }
    return {
        "case": data.case.name,
        "description": data.case.description,
        "half": data.case.half,
        "shape": list(data.shape),
        "ceiling": supervised_ceiling(data.X, data.mask, data.truth),
        "methods": methods_out,
    }


def summarize(cases: list[dict], deep: str = "dsc") -> dict:
    """Mean ARI / worst agreement / mean seconds per method over ``cases``, and whether
    ``deep`` meets :data:`TARGETS` against the classical baselines that were run."""
    methods = list(cases[0]["methods"]) if cases else []
    per_method = {}
    for m in methods:
        agreements = [c["methods"][m]["agreement"] for c in cases]
        agreements = [a for a in agreements if a is not None]
        per_method[m] = {
            "ari": float(np.mean([c["methods"][m]["ari"] for c in cases])),
            "min_agreement": float(min(agreements)) if agreements else None,
            "seconds": float(np.mean([c["methods"][m]["seconds"] for c in cases])),
        }
    out: dict[str, Any] = {"methods": per_method, "ceiling": None, "targets": None}
    if cases:
        out["ceiling"] = float(np.mean([c["ceiling"] for c in cases]))
    classical = [m for m in CLASSICAL if m in per_method]
    if deep in per_method and classical:
        best = max(classical, key=lambda m: per_method[m]["ari"])
        below = []
        if "kmeans" in per_method:
            below = [
                c["case"]
                for c in cases
                if c["methods"][deep]["ari"]
                < c["methods"]["kmeans"]["ari"] - TARGETS["below_kmeans"]
            ]
        unstable = [
            c["case"]
            for c in cases
            if (c["methods"][deep]["agreement"] or 0.0) < TARGETS["agreement"]
        ]
        slow = [
            c["case"]
            for c in cases
            if c["methods"][deep]["seconds"] > TARGETS["fit_seconds"]
            and np.prod(c["shape"]) <= 1500 * 41 * 41 * 7
        ]
        margin = per_method[deep]["ari"] - per_method[best]["ari"]
        out["targets"] = {
            "best_classical": best,
            "margin": float(margin),
            "margin_met": bool(margin >= TARGETS["margin_over_best_classical"]),
            "below_kmeans": below,
            "unstable": unstable,
            "slow": slow,
        }
    return out


def _cell(res: dict) -> str:
    agreement = "—" if res["agreement"] is None else f"{res['agreement']:.2f}"
    return f"{res['ari']:.2f} ± {res['ari_std']:.2f} · {agreement} · {res['seconds']:.0f} s"


def suite_table(cases: list[dict], deep: str = "dsc") -> str:
    """Markdown: one row per case (ARI mean ± std · seed agreement · seconds per method, and
    the ceiling), a summary row, and the targets' verdict."""
    if not cases:
        return "(no cases)\n"
    methods = list(cases[0]["methods"])
    head = "| case | days × vars × grid | ceiling | " + " | ".join(methods) + " |"
    rule = "|---|---|---:|" + "---:|" * len(methods)
    rows = []
    for c in cases:
        d, v, ny, nx = c["shape"]
        cells = " | ".join(_cell(c["methods"][m]) for m in methods)
        rows.append(f"| {c['case']} | {d} × {v} × {ny}×{nx} | {c['ceiling']:.2f} | {cells} |")
    s = summarize(cases, deep)
    summary = " | ".join(
        f"**{r['ari']:.3f}** · min {r['min_agreement'] or 0:.2f} · {r['seconds']:.0f} s"
        for r in s["methods"].values()
    )
    rows.append(f"| **mean** | {len(cases)} cases | {s['ceiling']:.2f} | {summary} |")
    lines = [head, rule, *rows, ""]
    lines.append(
        "Cells: ARI against the planted regimes, mean ± std over seeds · seed agreement "
        "(mean pairwise ARI) · fit seconds. Ceiling: cross-validated LDA on 20 PCs of "
        "single days (supervised)."
    )
    t = s["targets"]
    if t:
        lines += [
            "",
            f"- {deep} − best classical ({t['best_classical']}): {t['margin']:+.3f} "
            f"(target ≥ +{TARGETS['margin_over_best_classical']}: "
            f"{'met' if t['margin_met'] else 'NOT met'})",
            f"- cases where {deep} < k-means − {TARGETS['below_kmeans']}: "
            f"{', '.join(t['below_kmeans']) or 'none'}",
            f"- cases with seed agreement < {TARGETS['agreement']}: "
            f"{', '.join(t['unstable']) or 'none'}",
            f"- cases up to 1500 × 41×41 × 7 fitted in > {TARGETS['fit_seconds']:.0f} s: "
            f"{', '.join(t['slow']) or 'none'}",
        ]
    return "\n".join(lines) + "\n"
