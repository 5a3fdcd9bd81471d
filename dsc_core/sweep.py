"""Many runs at once on ``dask.distributed``: every (method, K, seed) of a sweep is one task.

A task runs :func:`dsc_core.pipeline.run` on its worker (the worker reads the data itself) and
saves a normal run directory into the sweep's run store, ``OUT/runs``; it returns a small
summary. The sweep then writes ``OUT/sweep.csv`` (one row per run) and ``OUT/sweep-k.csv``
(per method and K: seed agreement, mean scores, regime frequencies), the evidence for
choosing K; a copy of the latter in the run store lets the app (``DSC_RUN_STORE=OUT/runs``)
show it.

The cluster is ``dask.distributed``: an existing one (``scheduler`` = its address, e.g. one
started by ``dask-jobqueue`` on SLURM or PBS) or a ``LocalCluster`` of worker processes sized
to the machine. Each training uses one thread (dask starts its workers with
``OMP_NUM_THREADS=1``, which torch follows), so tasks × threads never exceeds the cores, and a
task starts no processes of its own (dask's worker processes are daemonic).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsc_core.errors import ConfigError
from dsc_core.pipeline import RunConfig

SUMMARY_FILE = "sweep-k.csv"
"""Per method and K: seed agreement, scores, regime frequencies; in OUT and in OUT/runs."""


def sweep_configs(
    base: RunConfig, ks: Sequence[int], methods: Sequence[str], seeds: int
) -> list[RunConfig]:
    """Every (method, K, seed) of the sweep as a validated RunConfig, seeds from ``base.seed``."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    configs = [
        replace(base, method=m, clusters=k, seed=base.seed + s)
        for m, k, s in product(methods, ks, range(seeds))
    ]
    for config in configs:
        config.validate()
    return configs


def run_task(config: RunConfig, store: str) -> dict:
    """One sweep task, on a worker: run ``config``, save it into the run store ``store``,
    return its summary (settings, run name, labels, scores, frequencies)."""
    from dsc_core.pipeline import run
    from dsc_core.runs import RunStore

    result = run(config)
    path = RunStore(store).save(result)
    m = result.metrics
    return {
        "method": config.method,
        "K": config.clusters,
        "seed": config.seed,
        "run": path.name,
        "labels": result.labels.values.tolist(),
        "ari": (m.get("truth") or {}).get("ari"),
        "silhouette_cosine": m["internal"].get("silhouette_cosine"),
        "davies_bouldin": m["internal"].get("davies_bouldin"),
        "frequency": m["regimes"]["frequency"],
        "fit_seconds": m["fit_seconds"],
    }


def client_for(scheduler: str | None, n_tasks: int):
    """A ``distributed.Client``: to ``scheduler``, or to a LocalCluster of worker processes
    (one thread each, at most one per core and per task)."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    workers = max(1, min(os.cpu_count() or 1, n_tasks))
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster)


def run_sweep(
    configs: Sequence[RunConfig],
    out: str | Path,
    scheduler: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every config as a task on ``dask.distributed`` (see :func:`client_for`); write and
    return the run table and the per-(method, K) summary (:func:`summarise`)."""
    from distributed import as_completed

    out = Path(out)
    store = out / "runs"
    store.mkdir(parents=True, exist_ok=True)
    rows = []
    with client_for(scheduler, len(configs)) as client:
        futures = [client.submit(run_task, c, str(store), pure=False) for c in configs]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            if progress:
                progress(row)
    runs = pd.DataFrame(rows).sort_values(["method", "K", "seed"]).reset_index(drop=True)
    summary = summarise(runs)
    runs.drop(columns=["labels"]).to_csv(out / "sweep.csv", index=False)
    summary.to_csv(out / SUMMARY_FILE)
    summary.to_csv(store / SUMMARY_FILE)  # the app shows it beside the sweep's runs
    return runs, summary


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (method, K): seed agreement (mean pairwise ARI of the seeds' labels), mean ARI
    against a truth (when there is one), silhouette and Davies–Bouldin, and the regime
    frequencies (each seed's sorted from the largest, averaged)."""
    from dsc_core.metrics import stability

    rows = []
    for (method, k), group in runs.groupby(["method", "K"], sort=True):
        labels = [np.asarray(v) for v in group["labels"]]
        freqs = np.mean([sorted(f, reverse=True) for f in group["frequency"]], axis=0)
        row: dict[str, Any] = {
            "method": method,
            "K": k,
            "seeds": len(group),
            "seed_agreement": stability(labels) if len(labels) >= 2 else None,
            "silhouette_cosine": group["silhouette_cosine"].mean(),
            "davies_bouldin": group["davies_bouldin"].mean(),
            "frequencies": " ".join(f"{f:.0%}" for f in freqs),
        }
        if group["ari"].notna().any():
            row["ari"] = group["ari"].mean()
        rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "K"])
