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
from dsc_core.pipeline import RunConfig, estimator_params, load_data, score
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
    from dsc_core.preprocess import Preprocessor, paper_features

    methods = list(methods or METHODS)
    for m in methods:
        replace(config, method=m).validate()
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    ds = load_data(config, data)
    n_days = int(ds.sizes["time"])
    config.validate(n_days)
    pre = Preprocessor(deseasonalize=config.deseasonalize)
    X = pre.fit_transform(ds)
    mask = pre.padded_mask_
    fields = pre.anomalies(ds) if config.deseasonalize else ds
    features = paper_features(fields, ds["mask"].values)
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
            est.fit(X, mask=mask)
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
        "scaled input; stability = mean pairwise ARI between seeds."
    )
    return "\n".join([head, rule, *rows, "", caption, ""])


def write_benchmark(result: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``benchmark.json`` and ``benchmark.md`` into directory ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "benchmark.json", out / "benchmark.md"
    js.write_text(json.dumps(jsonable(result), indent=1, allow_nan=False))
    md.write_text(markdown_table(result))
    return js, md
