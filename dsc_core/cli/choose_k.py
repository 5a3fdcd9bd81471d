"""`dsc choose-k`: seed agreement, classifiability, silhouette and explained variance per K."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsc_core.cli.train import add_selection_arguments, config_from_args, parse_float, parse_int


def add_parsers(subparsers) -> None:
    """Register `dsc choose-k`."""
    p = subparsers.add_parser(
        "choose-k",
        help="measure how well each number of clusters K holds up (no K is chosen for you)",
        description="Fit the method for every K with several seeds on the same data and print, "
        "per K: seed agreement, classifiability index (Michelangeli et al. 1995), silhouette "
        "and the share of variance explained.",
    )
    add_selection_arguments(p, clusters=("2-9", "Ks to try: a range 2-9 or a list 3,5,7"))
    p.add_argument("--method", default="dsc", help="dsc (default), kmeans, pca-kmeans, ...")
    p.add_argument("--seeds", default="3", metavar="N", help="seeds per K (default 3, ≥ 2)")
    p.add_argument("--seed", default="0", help="first seed (default 0)")
    p.add_argument("--total-minutes", metavar="M",
                   help="end the whole measurement after M minutes, keeping the K's measured in "
                   "full (default: no limit; --max-minutes bounds each training)")  # fmt: skip
    p.add_argument("--out", metavar="CSV", help="also write the table to this CSV file")
    p.set_defaults(func=choose_k_command)


def choose_k_command(args: argparse.Namespace) -> int:
    from dsc_core.choose_k import choose_k, parse_ks

    ks = parse_ks(args.clusters)
    args.clusters = str(max(ks))
    config = config_from_args(args, args.method).validate()
    total = parse_float(args.total_minutes, "--total-minutes") if args.total_minutes else None
    table = choose_k(
        config,
        ks,
        seeds=parse_int(args.seeds, "--seeds"),
        progress=lambda message: print(f"[choose-k] {message}", file=sys.stderr),
        max_minutes=total,
    )
    print(f"{config.method} on {table.index.size} values of K, {args.seeds} seeds each")
    if table.attrs["unmeasured"]:
        print(f"not measured (time budget): K = {', '.join(map(str, table.attrs['unmeasured']))}")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(
        "Higher seed agreement and classifiability: the K's clusters come back whatever the "
        "seed. Explained variance always grows with K; look for where it levels off."
    )
    if args.out:
        out = Path(args.out)
        table.to_csv(out)
        print(f"written: {out}")
    return 0
