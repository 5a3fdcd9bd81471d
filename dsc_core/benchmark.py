"""Benchmark: every method on the same preprocessed data, several seeds, one table.

Per method: mean ± std over seeds of every internal score (on the paper's metric input), of
the truth scores when the data carry a ``regime`` truth, and of the fit's wall time; plus
stability, the mean pairwise ARI between the seeds' labelings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from dsc_core.errors import ConfigError
from dsc_core.metrics import HIGHER_IS_BETTER, INTERNAL_KEYS, stability
from dsc_core.pipeline import RunConfig, estimator_params, prepare, score, score_features
from dsc_core.runs import jsonable

TABLE_COLUMNS = (
    ("ari", "ARI ↑"),
    ("nmi", "NMI ↑"),
    ("stability", "stability ↑"),
    ("silhouette_cosine", "silhouette cos ↑"),
    ("davies_bouldin", "DB ↓"),
    ("rmse", "RMSE ↓"),
    ("seconds", "seconds"),
)


PAPER_FIGURES: dict[str, tuple[str, dict[str, float]]] = {
    # Faruque et al. (ECML-PKDD 2023), their table: K = 7 on their ERA5 data (SPEC). DTC is
    # not implemented here; its row shows the paper's figures only.
    "kmeans": ("k-means", {"silhouette_cosine": 0.254, "davies_bouldin": 1.687, "rmse": 13.66}),
    "agglomerative": (
        "agglomerative",
        {"silhouette_cosine": 0.235, "davies_bouldin": 1.567, "rmse": 13.99},
    ),
    "dec": ("DEC", {"silhouette_cosine": 0.266, "davies_bouldin": 1.608, "rmse": 13.63}),
    "dtc": ("DTC", {"silhouette_cosine": 0.282, "davies_bouldin": 1.685, "rmse": 14.71}),
    "cnn-encoder": (
        "CNN encoder only",
        {"silhouette_cosine": 0.356, "davies_bouldin": 1.477, "rmse": 13.74},
    ),
    "cnn-rnn-encoder": ("CNN-LSTM encoder only", {"davies_bouldin": 1.438, "rmse": 13.82}),
    "dsc": (
        "DSC",
        {
            "silhouette_cosine": 0.373,
            "davies_bouldin": 1.435,
            "rmse": 13.80,
            "variance_paper": 0.043,
            "inter_cluster_distance_paper": 8.16,
        },
    ),  # fmt: skip
}
PAPER_COLUMNS = (
    ("silhouette_cosine", "silhouette (cos) ↑"),
    ("davies_bouldin", "Davies–Bouldin ↓"),
    ("calinski_harabasz", "Calinski–Harabasz ↑"),
    ("rmse", "RMSE ↓"),
    ("variance_paper", "variance ↓"),
    ("inter_cluster_distance_paper", "inter-cluster distance ↑"),
    ("ari", "ARI vs truth ↑"),
)


def _mean_std(values: list) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}


def run_benchmark(
    config: RunConfig,
    methods: Sequence[str] | None = None,
    seeds: int = 3,
    callbacks: Iterable[Callable[[str, int, dict], None]] = (),
    data=None,
    out: str | Path | None = None,
) -> dict:
    """Fit every method ``seeds`` times (seeds 0..seeds-1) on the data of ``config``.

    config: data selection, K, deseasonalize, preset/window/device for the deep methods
    (``config.method`` and ``config.seed`` are ignored). methods: names (default: all of
    ``dsc_core.baselines.METHODS``). callbacks: ``cb(method, seed, result)`` after each fit.
    Returns a JSON-able dict: settings, n_days, and per method the per-seed ``runs`` and the
    ``summary`` {score: {mean, std, n}} including ``seconds`` and ``stability``.
    out: a folder to (re)write benchmark.json/.md into after every method, so that a long
    benchmark's finished methods are on disk (``complete`` is False until the last one).
    """
    from dsc_core.baselines import METHODS, make_estimator

    methods = list(methods or METHODS)
    for m in methods:
        replace(config, method=m).validate()
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    prepared = prepare(config, data)
    ds, X, mask = prepared.ds, prepared.X, prepared.mask
    n_days = int(ds.sizes["time"])
    features = score_features(config, prepared)
    truth = np.asarray(ds["regime"].values, dtype=np.int64) if "regime" in ds.coords else None

    results: dict[str, dict] = {}
    result = {
        "config": {**config.to_dict(), "method": None, "seed": None},
        "seeds": list(range(seeds)),
        "n_days": n_days,
        "has_truth": truth is not None,
        "higher_is_better": HIGHER_IS_BETTER,
        "complete": False,
        "methods": results,
    }
    for method in methods:
        cfg = replace(config, method=method)
        runs, labelings = [], []
        for seed in range(seeds):
            est = make_estimator(
                method, config.clusters, random_state=seed, **estimator_params(cfg)
            )
            t0 = time.perf_counter()
            est.fit(X, mask=mask, time=prepared.days)
            seconds = time.perf_counter() - t0
            labels = np.asarray(est.labels_, dtype=np.int64)
            labelings.append(labels)
            scores = score(features, labels, truth)
            res = {"seed": seed, "seconds": seconds, **scores["internal"]}
            res.update(scores["truth"] or {})
            runs.append(res)
            for cb in callbacks:
                cb(method, seed, res)
        keys = [*INTERNAL_KEYS, "seconds"] + (["ari", "nmi"] if truth is not None else [])
        summary = {k: _mean_std([r.get(k) for r in runs]) for k in keys}
        stab = stability(labelings) if len(labelings) >= 2 else None
        summary["stability"] = {"mean": stab, "std": None, "n": len(labelings)}
        results[method] = {"runs": runs, "summary": summary}
        result["complete"] = method == methods[-1]
        if out is not None:
            write_benchmark(result, out)
    return result


def _cell(stat: dict, digits: int = 3) -> str:
    if stat.get("mean") is None:
        return "—"
    if stat.get("std") is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def markdown_table(result: dict) -> str:
    """The benchmark as a Markdown table: one row per method, mean ± std over seeds."""
    cols = [
        (k, label) for k, label in TABLE_COLUMNS if result["has_truth"] or k not in ("ari", "nmi")
    ]
    head = "| method | " + " | ".join(label for _, label in cols) + " |"
    rule = "|---|" + "---:|" * len(cols)
    rows = [
        f"| {m} | "
        + " | ".join(_cell(r["summary"][k], 1 if k == "seconds" else 3) for k, _ in cols)
        + " |"
        for m, r in result["methods"].items()
    ]
    c = result["config"]
    caption = (
        f"K={c['clusters']}, {result['n_days']} days, data {c['data']}, "
        f"{'deseasonalised' if c['deseasonalize'] else 'raw fields'}, preset {c['preset']}, "
        f"seeds {result['seeds']}; mean ± std over seeds; internal scores on the min-max "
        f"scaled {'raw fields' if c.get('score_space') == 'paper' else 'input'}; stability = "
        "mean pairwise ARI between seeds."
    )
    return "\n".join([head, rule, *rows, "", caption, ""])


def paper_table(result: dict) -> str:
    """The benchmark in the paper's layout: our mean over seeds, the paper's published figure
    in parentheses where it has one, ARI against the planted truth as the extra column; and
    whether the ranking by silhouette agrees with the paper's."""
    ours = result["methods"]
    names = [m for m in PAPER_FIGURES if m in ours or m == "dtc"]
    names += [m for m in ours if m not in names]
    cols = [(k, label) for k, label in PAPER_COLUMNS if result["has_truth"] or k != "ari"]
    lines = ["| method | " + " | ".join(label for _, label in cols) + " |",
             "|---|" + "---:|" * len(cols)]  # fmt: skip
    for m in names:
        label, published = PAPER_FIGURES.get(m, (m, {}))
        cells = []
        for key, _ in cols:
            mean = ours[m]["summary"][key]["mean"] if m in ours else None
            text = "—" if mean is None else f"{mean:.3f}"
            if key in published:
                text += f" ({published[key]:g})"
            cells.append(text)
        note = "" if m in ours else " (not implemented here)"
        lines.append(f"| {label}{note} | " + " | ".join(cells) + " |")
    c = result["config"]
    space = (
        "raw fields, as the paper"
        if c.get("score_space") == "paper" or not c["deseasonalize"]
        else "deseasonalised anomalies"
    )
    lines += [
        "",
        f"Ours: K={c['clusters']}, {result['n_days']} days of {c['data']}, preset {c['preset']}, "
        f"mean over seeds {result['seeds']}; internal scores on min-max scaled {space} "
        "(--score-space). In parentheses: the paper's published figures, K = 7 on its own ERA5 "
        "data: compare rankings, not values. Variance and inter-cluster distance follow the "
        "paper's definitions (dsc_core.metrics).",
        "",
        _ranking_sentence(ours),
        "",
    ]
    return "\n".join(lines)


def _ranking_sentence(ours: dict) -> str:
    """Whether our order of the methods by silhouette (cos) is the paper's."""
    common = [
        m for m in PAPER_FIGURES
        if m in ours and "silhouette_cosine" in PAPER_FIGURES[m][1]
        and ours[m]["summary"]["silhouette_cosine"]["mean"] is not None
    ]  # fmt: skip
    if len(common) < 2:
        return "Too few methods in common with the paper to compare rankings."

    def order(value) -> list[str]:
        return [PAPER_FIGURES[m][0] for m in sorted(common, key=value, reverse=True)]

    paper = order(lambda m: PAPER_FIGURES[m][1]["silhouette_cosine"])
    mine = order(lambda m: ours[m]["summary"]["silhouette_cosine"]["mean"])
    verdict = "the same as" if mine == paper else "not the same as"
    return (
        f"Ranking by silhouette (cos), best first: ours {' > '.join(mine)}; the paper's "
        f"{' > '.join(paper)}: {verdict} the paper's."
    )


def write_benchmark(result: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``benchmark.json`` and ``benchmark.md`` into directory ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "benchmark.json", out / "benchmark.md"
    js.write_text(json.dumps(jsonable(result), indent=1, allow_nan=False))
    md.write_text(markdown_table(result))
    return js, md
