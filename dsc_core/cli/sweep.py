"""`dsc sweep`: every method × K × seed as a task on dask.distributed."""

from __future__ import annotations

import argparse
import sys

from dsc_core.cli.train import add_selection_arguments, config_from_args, parse_int, parse_list


def add_parsers(subparsers) -> None:
    """Register `dsc sweep`."""
    p = subparsers.add_parser(
        "sweep",
        help="run every method × K × seed on dask.distributed (a local cluster or a scheduler)",
        description="Run every combination as a task on dask.distributed; each writes a run "
        "directory into OUT/runs; OUT/sweep.csv lists them and OUT/sweep-k.csv summarises each "
        "method and K (seed agreement, scores, regime frequencies).",
    )
    add_selection_arguments(p, clusters=("3-8", "Ks: a range 3-8 or a list 3,5,7"))
    p.add_argument("--methods", default="dsc,kmeans", help="comma-separated (default dsc,kmeans)")
    p.add_argument("--seeds", default="3", metavar="N", help="seeds per method and K (default 3)")
    p.add_argument("--seed", default="0", help="first seed (default 0)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster of "
        "worker processes sized to this machine)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the runs and tables")
    p.set_defaults(func=sweep_command)


def sweep_command(args: argparse.Namespace) -> int:
    from dsc_core.choose_k import parse_ks
    from dsc_core.sweep import run_sweep, sweep_configs

    ks = parse_ks(args.clusters)
    methods = parse_list(args.methods) or ["dsc", "kmeans"]
    args.clusters = str(ks[0])
    base = config_from_args(args, methods[0])
    configs = sweep_configs(base, ks, methods, parse_int(args.seeds, "--seeds"))
    total = len(configs)
    done = []

    def progress(row: dict) -> None:
        done.append(row)
        print(f"[sweep] {len(done)}/{total} {row['method']} K={row['K']} seed {row['seed']} "
              f"→ {row['run']}", file=sys.stderr, flush=True)  # fmt: skip

    _, summary = run_sweep(configs, args.out, scheduler=args.scheduler, progress=progress)
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"written: {args.out}/sweep.csv, {args.out}/sweep-k.csv, runs in {args.out}/runs")
    return 0
