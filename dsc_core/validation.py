"""The validation suite run: every method × seeds on synthetic cases with a planted truth.

Per case: ARI against the planted regimes (mean ± std over seeds), seed agreement (mean
pairwise ARI), fit seconds, and the single-day supervised ceiling — a cross-validated linear
discriminant on the leading principal components, i.e. what one day's maps allow at best.
The cases are :data:`dsc_core.data.synthetic.SUITE`; defaults are chosen on its "choose" half
and reported on its "report" half (``benchmarks/suite.py`` prints the table).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import KFold, cross_val_predict

from dsc_core.data.synthetic import Case, make_case
from dsc_core.features import valid_cells_pca
from dsc_core.metrics import stability
from dsc_core.trust import THRESHOLDS, Thresholds, structure_test, trust_checks, warnings_for

CLASSICAL = ("kmeans", "pca-kmeans", "pca-gmm", "agglomerative")
"""The classical baselines DSC must beat."""
RECOVERABLE = 0.1
"""A case whose best method scores an ARI below this holds no regimes that can be found: a
run there should warn, as on a case without regimes."""
DEFAULT_K_WITHOUT_REGIMES = 4
"""K asked of a case that has no regimes (what a user would try)."""

TARGETS = {
    "within": 0.05,  # DSC within this of the best classical method on a case ...
    "within_share": 0.9,  # ... on at least this share of the regime cases
    "never_below": 0.15,  # and never more than this below it
    "mean_margin": 0.05,  # mean of DSC − best classical over the regime cases
    "hit_rate": 0.9,  # warnings where DSC is > "within" below the best, or no regimes exist
    "false_alarm": 0.1,  # warnings where DSC is at or above the best classical method
    "fit_seconds": 60.0,  # up to 1500 days of 41 × 41 × 7 on 2 cores
}


@dataclass
class CaseData:
    """One case, loaded and preprocessed: ``X`` (day, variable, y, x) float32, ``mask`` (y, x),
    ``truth`` (day,) int (None: a case without regimes), ``time`` (day,) datetime64, and its
    size for the table."""

    case: Case
    X: np.ndarray
    mask: np.ndarray
    truth: np.ndarray | None
    time: np.ndarray
    shape: tuple[int, int, int, int]  # days, variables, latitude, longitude


def prepare_case(case: Case, area_weighting: bool = True, clip: float | None = None) -> CaseData:
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
        truth=np.asarray(ds["regime"].values, np.int64) if "regime" in ds.coords else None,
        time=ds["time"].values,
        shape=shape,
    )


def supervised_ceiling(
    X: np.ndarray, mask: np.ndarray, truth: np.ndarray, n_components: int = 20, folds: int = 5
) -> float:
    """ARI of a linear discriminant trained on the truth, on the ``n_components`` leading PCs
    of single days, predicted out of fold (``folds`` contiguous blocks of days)."""
    pca, flat = valid_cells_pca(X, mask, n_components, seed=0)
    pcs = pca.fit_transform(flat)
    pred = cross_val_predict(LinearDiscriminantAnalysis(), pcs, truth, cv=KFold(folds))
    return float(adjusted_rand_score(truth, pred))


def run_case(
    data: CaseData,
    methods: Sequence[str],
    seeds: int | Sequence[int],
    params: dict[str, Any] | None = None,
    callbacks: Iterable[Callable[[str, str, int, dict], None]] = (),
    deep: str = "dsc",
) -> dict:
    """Fit each method with ``seeds`` (a list, or a count: 0..seeds-1) on one prepared case.

    ``params`` go to every estimator (``make_estimator`` drops those a method does not use).
    On a case without regimes only ``deep`` is fitted: what matters there is its warnings.
    Returns {"case", "description", "half", "shape", "regimes" (planted count, 0: none),
    "ceiling" (None without regimes), "methods": {method: {"runs": [{"seed", "ari",
    "seconds", "head" (DSC: the clustering head's votes), "years_removed" (DSC, when it
    retrained without each year's mean)}], "ari", "ari_std", "agreement",
    "seconds"}} (ARIs None without regimes),
    "trust": the run's checks as :func:`dsc_core.trust.trust_checks` makes them for ``deep``'s
    first seed (k-means and PCA + GMM as references, their second seeds when there are
    two), "labels": {method: the first seed's labels}}.
    """
    from dsc_core.baselines import make_estimator

    truth = data.truth
    if truth is None:
        methods = [m for m in methods if m == deep]
    methods_out: dict[str, dict] = {}
    first: dict[str, list[np.ndarray]] = {}
    heads: dict[str, dict] = {}  # the first seed's clustering head (DSC)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    n_clusters = data.case.n_regimes or DEFAULT_K_WITHOUT_REGIMES
    for method in dict.fromkeys([*methods, *(("kmeans", "pca-gmm") if deep in methods else ())]):
        runs, labelings = [], []
        for seed in seed_list:
            est = make_estimator(method, n_clusters, random_state=seed, **(params or {}))
            t0 = time.perf_counter()
            est.fit(data.X, mask=data.mask, time=data.time)
            seconds = time.perf_counter() - t0
            labels = np.asarray(est.labels_, np.int64)
            labelings.append(labels)
            ari = None if truth is None else float(adjusted_rand_score(truth, labels))
            run = {"seed": seed, "ari": ari, "seconds": seconds}
            if getattr(est, "head_", None):
                run["head"] = est.head_
                heads.setdefault(method, est.head_)
            if getattr(est, "years_removed_", None) is not None:
                run["years_removed"] = est.years_removed_
            runs.append(run)
            for cb in callbacks:
                cb(data.case.name, method, seed, run)
        first[method] = labelings
        if method not in methods:
            continue  # a reference of the trust checks only
        aris = [r["ari"] for r in runs if r["ari"] is not None]
        methods_out[method] = {
            "runs": runs,
            "ari": float(np.mean(aris)) if aris else None,
            "ari_std": float(np.std(aris)) if aris else None,
            "agreement": stability(labelings) if len(labelings) > 1 else None,
            "seconds": float(np.mean([r["seconds"] for r in runs])),
        }
    trust = None
    if deep in first:
        refs = {m: first[m][0] for m in ("kmeans", "pca-gmm")}
        again = {m: first[m][1] for m in (deep, *refs) if len(first[m]) > 1}
        structure = data_structure(data)
        removed = methods_out.get(deep, {}).get("runs", [{}])[0].get("years_removed")
        trust = trust_checks(deep, first[deep][0], refs, structure, again.get(deep), again,
                             head=heads.get(deep), time=data.time,
                             years_removed=removed)  # fmt: skip
    return {
        "case": data.case.name,
        "description": data.case.description,
        "half": data.case.half,
        "shape": list(data.shape),
        "regimes": data.case.n_regimes,
        "ceiling": None if truth is None else supervised_ceiling(data.X, data.mask, truth),
        "methods": methods_out,
        "trust": trust,
        "labels": {m: labelings[0].tolist() for m, labelings in first.items()},
    }


def data_structure(data: CaseData) -> dict:
    """The red-noise test of a case's data (:func:`dsc_core.trust.structure_test`) on the
    leading principal components, with K = the planted number (or the K asked of a case
    without regimes), as a run does it."""
    pca, flat = valid_cells_pca(data.X, data.mask, 20, seed=0)
    pcs = pca.fit_transform(flat)
    return structure_test(pcs, data.case.n_regimes or DEFAULT_K_WITHOUT_REGIMES, data.time)


def margins(cases: list[dict], deep: str = "dsc") -> list[tuple[str, float, str]]:
    """(case, ``deep``'s ARI − the best classical method's, that method) per regime case."""
    out = []
    for c in cases:
        if not c.get("regimes", 1) or deep not in c["methods"]:
            continue
        classical = {m: c["methods"][m]["ari"] for m in CLASSICAL if m in c["methods"]}
        if classical:
            best = max(classical, key=classical.get)
            out.append((c["case"], c["methods"][deep]["ari"] - classical[best], best))
    return out


def warning_rates(cases: list[dict], deep: str = "dsc") -> dict:
    """How right the trust warnings are: ``hit_rate`` over the cases that should warn (no
    regimes; regimes that no method recovers, every ARI below :data:`RECOVERABLE`; or
    ``deep`` more than TARGETS["within"] below the best classical method),
    ``false_alarm`` over the cases where ``deep`` is at or above the best classical method,
    with the counts and the names of missed and false cases."""
    margin = {name: m for name, m, _ in margins(cases, deep)}
    should, fine = [], []
    for c in cases:
        if c.get("trust") is None:
            continue
        warned = bool(c["trust"]["warnings"])
        found = max((r["ari"] or 0.0 for r in c["methods"].values()), default=0.0)
        if (
            not c.get("regimes", 1)
            or found < RECOVERABLE
            or margin.get(c["case"], 0.0) < -TARGETS["within"]
        ):
            should.append((c["case"], warned))
        elif margin.get(c["case"], -1.0) >= 0.0:
            fine.append((c["case"], warned))
    return {
        "should_warn": len(should),
        "hit_rate": float(np.mean([w for _, w in should])) if should else None,
        "missed": [n for n, w in should if not w],
        "fine": len(fine),
        "false_alarm": float(np.mean([w for _, w in fine])) if fine else None,
        "false": [n for n, w in fine if w],
    }


def rewarn(cases: list[dict], thresholds: Thresholds, deep: str = "dsc") -> list[dict]:
    """``cases`` with ``deep``'s warnings recomputed from their stored checks under other
    ``thresholds`` (to calibrate them without refitting)."""
    out = []
    for c in cases:
        if c.get("trust") is not None:
            trust = {**c["trust"], "warnings": warnings_for(deep, c["trust"], thresholds)}
            c = {**c, "trust": trust}
        out.append(c)
    return out


CALIBRATION_GRID: dict[str, tuple[float, ...]] = {
    "head": (0.0, 0.35, 0.4, 0.45, 0.5),
    "structure_head": (0.4, 0.45, 0.5, 1.0),
    "structure_floor": (0.0, 5.0, 10.0),
}
"""The thresholds (:class:`dsc_core.trust.Thresholds` fields) and values
:func:`calibration_table` tries."""


def calibration_table(
    cases: list[dict], deep: str = "dsc", grid: dict[str, tuple[float, ...]] = CALIBRATION_GRID
) -> str:
    """Markdown: the warnings' hit and false-alarm rates on ``cases`` for every combination
    of the ``grid``'s thresholds (the others as today), today's marked, with the cases
    missed and falsely warned."""
    names = list(grid)
    lines = [
        "| " + " | ".join(names) + " | hit rate | false alarms | missed | false |",
        "|" + "---:|" * (len(names) + 2) + "---|---|",
    ]
    for values in itertools.product(*grid.values()):
        t = replace(THRESHOLDS, **dict(zip(names, values, strict=True)))
        w = warning_rates(rewarn(cases, t, deep), deep)
        cells = [f"{v:g}" for v in values]
        if t == THRESHOLDS:
            cells[0] += " (today)"
        lines.append(
            f"| {' | '.join(cells)} | {w['hit_rate'] or 0:.0%} of {w['should_warn']} | "
            f"{w['false_alarm'] or 0:.0%} of {w['fine']} | {', '.join(w['missed'])} | "
            f"{', '.join(w['false'])} |"
        )
    return "\n".join(lines) + "\n"


def summarize(cases: list[dict], deep: str = "dsc") -> dict:
    """Mean ARI / worst agreement / mean seconds per method over the regime cases, and how
    ``deep`` meets :data:`TARGETS` against the best classical method of each case (its
    margins, worst cases first) and how right its warnings are (:func:`warning_rates`)."""
    regime_cases = [c for c in cases if c.get("regimes", 1)]
    methods = list(regime_cases[0]["methods"]) if regime_cases else []
    per_method = {}
    for m in methods:
        agreements = [c["methods"][m]["agreement"] for c in regime_cases]
        agreements = [a for a in agreements if a is not None]
        per_method[m] = {
            "ari": float(np.mean([c["methods"][m]["ari"] for c in regime_cases])),
            "min_agreement": float(min(agreements)) if agreements else None,
            "seconds": float(np.mean([c["methods"][m]["seconds"] for c in regime_cases])),
        }
    out: dict[str, Any] = {"methods": per_method, "ceiling": None, "targets": None}
    if regime_cases:
        out["ceiling"] = float(np.mean([c["ceiling"] for c in regime_cases]))
    rows = sorted(margins(cases, deep), key=lambda r: r[1])
    if rows:
        values = np.array([m for _, m, _ in rows])
        slow = [
            c["case"]
            for c in regime_cases
            if c["methods"][deep]["seconds"] > TARGETS["fit_seconds"]
            and np.prod(c["shape"]) <= 1500 * 41 * 41 * 7
        ]
        out["targets"] = {
            "within_share": float(np.mean(values >= -TARGETS["within"])),
            "worst_margin": float(values.min()),
            "mean_margin": float(values.mean()),
            "worst": rows[:5],
            "unstable": [
                c["case"] for c in regime_cases if (c["methods"][deep]["agreement"] or 1.0) < 0.8
            ],
            "slow": slow,
        }
    out["warnings"] = warning_rates(cases, deep)
    return out


def _cell(res: dict) -> str:
    if res["ari"] is None:
        return "—"
    agreement = "—" if res["agreement"] is None else f"{res['agreement']:.2f}"
    return f"{res['ari']:.2f} ± {res['ari_std']:.2f} · {agreement} · {res['seconds']:.0f} s"


def _verdict(value: float | None, goal: float, higher: bool = True) -> str:
    if value is None:
        return "n/a"
    return "met" if (value >= goal if higher else value <= goal) else "NOT met"


def suite_table(cases: list[dict], deep: str = "dsc") -> str:
    """Markdown: one row per case (ARI mean ± std · seed agreement · seconds per method, the
    ceiling, ``deep``'s margin over the best classical method and its warnings), a summary
    row, and the targets' verdict with the worst cases."""
    if not cases:
        return "(no cases)\n"
    methods = list(next(c for c in cases if c.get("regimes", 1))["methods"])
    head = "| case | days × vars × grid | ceiling | " + " | ".join(methods)
    head += f" | margin | {deep} warns |"
    rule = "|---|---|---:|" + "---:|" * len(methods) + "---:|---|"
    margin = {name: (m, best) for name, m, best in margins(cases, deep)}
    rows = []
    for c in cases:
        d, v, ny, nx = c["shape"]
        cells = " | ".join(_cell(c["methods"][m]) if m in c["methods"] else "—" for m in methods)
        ceiling = "no regimes" if c["ceiling"] is None else f"{c['ceiling']:.2f}"
        m = f"{margin[c['case']][0]:+.2f} ({margin[c['case']][1]})" if c["case"] in margin else ""
        warns = ", ".join(_kind(w) for w in (c.get("trust") or {}).get("warnings", [])) or "—"
        rows.append(
            f"| {c['case']} | {d} × {v} × {ny}×{nx} | {ceiling} | {cells} | {m} | {warns} |"
        )
    s = summarize(cases, deep)
    summary = " | ".join(
        f"**{r['ari']:.3f}** · min {r['min_agreement'] or 0:.2f} · {r['seconds']:.0f} s"
        for r in s["methods"].values()
    )
    ceiling = f"{s['ceiling']:.2f}" if s["ceiling"] is not None else "—"
    rows.append(f"| **mean** | {len(cases)} cases | {ceiling} | {summary} | | |")
    lines = [head, rule, *rows, ""]
    lines.append(
        "Cells: ARI against the planted regimes, mean ± std over seeds · seed agreement "
        "(mean pairwise ARI) · fit seconds. Ceiling: cross-validated LDA on 20 PCs of "
        f"single days (supervised). Margin: {deep} − the best classical method of the case. "
        f"Warnings of {deep}'s first seed: heads (its candidate clusterings disagree), "
        "structure (the data's clusters are no more distinct than red noise's), odd (the "
        "references agree, the run with neither), unstable (seed agreement)."
    )
    t, w = s["targets"], s["warnings"]
    if t:
        lines += [
            "",
            f"- within {TARGETS['within']} of the best classical method: "
            f"{t['within_share']:.0%} of regime cases (target ≥ {TARGETS['within_share']:.0%}: "
            f"{_verdict(t['within_share'], TARGETS['within_share'])})",
            f"- worst margin {t['worst_margin']:+.3f} (target ≥ −{TARGETS['never_below']}: "
            f"{_verdict(t['worst_margin'], -TARGETS['never_below'])}); worst cases: "
            + ", ".join(f"{n} {m:+.2f} vs {b}" for n, m, b in t["worst"]),
            f"- mean margin {t['mean_margin']:+.3f} (target ≥ +{TARGETS['mean_margin']}: "
            f"{_verdict(t['mean_margin'], TARGETS['mean_margin'])})",
            f"- seed agreement < 0.8: {', '.join(t['unstable']) or 'none'}",
            f"- cases up to 1500 × 41×41 × 7 fitted in > {TARGETS['fit_seconds']:.0f} s: "
            f"{', '.join(t['slow']) or 'none'}",
        ]
    if w["should_warn"] or w["fine"]:
        hit = "—" if w["hit_rate"] is None else f"{w['hit_rate']:.0%}"
        false = "—" if w["false_alarm"] is None else f"{w['false_alarm']:.0%}"
        lines += [
            f"- warnings: hit rate {hit} of {w['should_warn']} cases that should warn "
            f"(target ≥ {TARGETS['hit_rate']:.0%}: "
            f"{_verdict(w['hit_rate'], TARGETS['hit_rate'])}; missed: "
            f"{', '.join(w['missed']) or 'none'})",
            f"- false alarms {false} of {w['fine']} cases where {deep} ≥ the best classical "
            f"(target ≤ {TARGETS['false_alarm']:.0%}: "
            f"{_verdict(w['false_alarm'], TARGETS['false_alarm'], higher=False)}; "
            f"{', '.join(w['false']) or 'none'})",
        ]
    return "\n".join(lines) + "\n"


def _kind(warning: str) -> str:
    """A one-word name of a trust warning, for the table."""
    if "candidate clusterings" in warning:
        return "heads"
    if "red noise" in warning:
        return "structure"
    if "agree with each other" in warning:
        return "odd"
    if "agrees with itself" in warning:
        return "unstable"
    return "other"
