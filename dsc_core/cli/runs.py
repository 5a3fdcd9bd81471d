"""`dsc assign` (label new data with a saved run) and `dsc compare` (two runs side by side)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dsc_core.errors import ConfigError


def add_parsers(subparsers) -> None:
    """Register `dsc assign` and `dsc compare`."""
    p = subparsers.add_parser(
        "assign",
        help="label the days of new data with a saved run's model",
        description="Preprocess new data with a saved run's climatology and statistics and "
        "label every day with its model (same variables, grid and units required).",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory")
    p.add_argument("--data", required=True, help='"sample" or a file/folder/glob')
    p.add_argument("--start", help="first day, YYYY-MM-DD (default: the data's first)")
    p.add_argument("--end", help="last day, YYYY-MM-DD, inclusive (default: the data's last)")
    p.add_argument("--out", required=True, metavar="CSV", help="labels file to write")
    p.set_defaults(func=assign_command)

    p = subparsers.add_parser(
        "compare",
        help="compare the clusters of two runs",
        description="Contingency table, adjusted Rand index and clusters matched by their "
        "composite patterns (Hungarian assignment), on the days both runs share.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="a run directory")
    p.add_argument("run_b", metavar="RUN_B", help="another run directory")
    p.set_defaults(func=compare_command)


def assign_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from dsc_core.runs import load_run

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give a CSV file name")
    labels = load_run(args.run).assign(args.data, start=args.start, end=args.end)
    times = pd.DatetimeIndex(labels["time"].values).strftime("%Y-%m-%d")
    tmp = out.with_name(f".{out.name}.tmp")
    pd.DataFrame({"time": times, "cluster": labels.values}).to_csv(tmp, index=False)
    tmp.replace(out)
    counts = np.bincount(labels.values, minlength=int(labels.max()) + 1)
    shares = ", ".join(f"{c}: {n / counts.sum():.0%}" for c, n in enumerate(counts))
    print(f"{len(labels)} days labelled ({times[0]} – {times[-1]}) → {out}; frequency {shares}")
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from dsc_core.regimes import compare_runs
    from dsc_core.runs import load_run

    a, b = load_run(args.run_a), load_run(args.run_b)
    result = compare_runs(a, b)
    print(f"A = {a.name} ({a.config.method}, K={a.config.clusters})")
    print(f"B = {b.name} ({b.config.method}, K={b.config.clusters})")
    print(f"{result['n_days']} shared days, adjusted Rand index {result['ari']:.3f}")
    table = result["contingency"]
    print("days in (cluster of A, cluster of B):")
    print("  A\\B " + "".join(f"{j:>6d}" for j in range(table.shape[1])))
    for i, row in enumerate(table):
        print(f"  {i:>3d} " + "".join(f"{n:>6d}" for n in row))
    if result["pairs"] is None:
        print("patterns not compared: the runs differ in variables or grid")
        return 0
    print("matched by composite pattern (correlation):")
    for (i, j), r in zip(result["pairs"], result["correlations"], strict=True):
        print(f"  A {i} ↔ B {j}   r = {r:.2f}")
    return 0
