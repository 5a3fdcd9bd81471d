"""Measure DSC's defaults: ARI against the sample's planted regimes, seed agreement, fit time.

Prints one Markdown table row per configuration: ARI per seed, their mean, mean pairwise
ARI between the seeds' labellings, mean fit seconds. Data: the built-in sample, deseasonalised
(``Preprocessor(deseasonalize=True)``), K = its number of planted regimes.

    python benchmarks/tune_defaults.py --groups window joint standardize variants generalise
    python benchmarks/tune_defaults.py --groups --paper --custom '[{"gamma": 2.0},
        {"window": 3, "reconstruct": "window"},
        {"preset_overrides": {"latent_activation": "sigmoid"}}]'

``TUNE_CACHE=DIR`` keeps the preprocessed samples between runs (built once, ~10 s each).

Each fit runs in a worker process with ``--threads`` torch threads (default 1, as DSC trains);
``--workers`` fits run side by side (keep workers × threads ≤ cores for honest timings).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

GROUPS: dict[str, list[dict]] = {
    "window": [{"method": "dsc", "window": 1}]
    + [
        {"method": "dsc", "window": w, "reconstruct": r}
        for w in (3, 5, 7)
        for r in ("centre", "window")
    ],
    "standardize": [{"method": "dsc", "standardize": b} for b in (False, True)],
    "latent": [{"method": "dsc", "latent_dim": d} for d in (8, 16, 32)],
    "joint": [{"method": "dsc", "gamma": g} for g in (0.1, 1.0)] + [{"method": "cnn-rnn-ae"}],
    "variants": [
        {"method": m}
        for m in (
            "dsc",
            "cnn-rnn-ae",
            "cnn-ae",
            "cnn-rnn-encoder",
            "cnn-encoder",
            "dec",
            "kmeans",
            "agglomerative",
            "pca-kmeans",
            "pca-gmm",
        )
    ],
    "generalise": [
        {"method": m, "data": d}
        for d in ({"seed": 1}, {"n_regimes": 6})
        for m in ("dsc", "pca-gmm", "kmeans")
    ],
}

print = functools.partial(print, flush=True)  # noqa: A001 - progress lines from workers
_DATA: dict[str, tuple] = {}
CACHE = os.environ.get("TUNE_CACHE")  # folder of preprocessed samples (float16, cropped)


def load(data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deseasonalised sample ``(day, variable, y, x)``, mask ``(y, x)``, truth ``(day,)``."""
    key = json.dumps(data, sort_keys=True)
    name = "".join(c for c in key if c.isalnum()) or "default"
    path = os.path.join(CACHE, f"{name}.npz") if CACHE else None
    if key in _DATA:
        return _DATA[key]
    if path and os.path.exists(path):
        f = np.load(path)
        (top, bottom, left, right), mask = f["box"], f["mask"]
        X = np.zeros((len(f["truth"]), f["X"].shape[1], *mask.shape), np.float32)
        X[:, :, top:bottom, left:right] = f["X"]
        _DATA[key] = (X, mask, f["truth"])
        return _DATA[key]
    from dsc_core.data import sample
    from dsc_core.preprocess import Preprocessor

    ds = sample(**data)
    pre = Preprocessor(deseasonalize=True)
    _DATA[key] = (pre.fit_transform(ds), pre.padded_mask_, ds["regime"].values)
    if path:
        X, mask, truth = _DATA[key]
        ys, xs = np.nonzero(mask)
        box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
        crop = X[:, :, box[0] : box[1], box[2] : box[3]].astype(np.float16)
        np.savez(path, X=crop, mask=mask, truth=truth, box=np.array(box))
    return _DATA[key]


def _init(threads: int) -> None:
    import torch

    from dsc_core import training

    torch.set_num_threads(threads)
    training.TORCH_THREADS = threads


def fit_one(job: dict) -> dict:
    """Fit one configuration with one seed; returns labels, ARI and seconds."""
    from sklearn.metrics import adjusted_rand_score

    from dsc_core import model as model_module
    from dsc_core.baselines import make_estimator

    job = dict(job)
    seed = job.pop("seed")
    data = job.pop("data", {})
    method = job.pop("method", "dsc")
    overrides = job.pop("preset_overrides", None)
    if overrides:
        base = model_module.PRESETS["default"]
        model_module.PRESETS["default"] = replace(base, **overrides)
    X, mask, truth = load(data)
    k = int(truth.max()) + 1
    start = time.perf_counter()
    est = make_estimator(method, k, random_state=seed, **job)  # device ignored by classical ones
    labels = np.asarray(est.fit_predict(X, mask))
    seconds = time.perf_counter() - start
    if overrides:
        model_module.PRESETS["default"] = base
    ari = adjusted_rand_score(truth, labels)
    print(
        f"# {method} {data} {job} {overrides} seed {seed}: ARI {ari:.3f} {seconds:.1f} s",
        flush=True,
    )
    return {"labels": labels, "ari": ari, "seconds": seconds}


def time_paper_epoch() -> str:
    """Seconds of one pretraining epoch of the "paper" preset on the sample."""
    from dsc_core.estimator import DSC

    X, mask, truth = load({})
    est = DSC(4, preset="paper", pretrain_epochs=1, max_epochs=0, random_state=0, device="cpu")
    est.fit(X, mask)
    return f"paper preset: one pretraining epoch {est.history_[0]['elapsed']:.1f} s (365 days)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="*", default=["window", "latent", "variants"])
    parser.add_argument("--custom", help="JSON list of configurations (make_estimator params)")
    parser.add_argument("--paper", action="store_true", help="time one paper-preset epoch")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="device of the deep methods")
    args = parser.parse_args()

    configs = [c for g in args.groups for c in GROUPS[g]]
    if args.custom:
        configs += json.loads(args.custom)
    jobs = [{**c, "seed": s, "device": args.device} for c in configs for s in range(args.seeds)]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(args.threads,)) as pool:
        results = list(pool.map(fit_one, jobs))

    from sklearn.metrics import adjusted_rand_score

    print("| configuration | ARI per seed | ARI mean | seed agreement | fit s |")
    print("|---|---|---|---|---|")
    for i, config in enumerate(configs):
        rows = results[i * args.seeds : (i + 1) * args.seeds]
        aris = np.array([r["ari"] for r in rows])
        pairs = [
            adjusted_rand_score(a["labels"], b["labels"])
            for a, b in itertools.combinations(rows, 2)
        ]
        agree = f"{np.mean(pairs):.3f}" if pairs else "-"
        seconds = np.mean([r["seconds"] for r in rows])
        name = json.dumps(config, sort_keys=True)
        per_seed = ", ".join(f"{a:.3f}" for a in aris)
        print(f"| {name} | {per_seed} | {aris.mean():.3f} | {agree} | {seconds:.1f} |")
    if args.paper:
        print(time_paper_epoch())


if __name__ == "__main__":
    main()
