"""`dsc benchmark`: every method on the same data, several seeds, one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsc_core.cli.train import add_selection_arguments, config_from_args, parse_int, parse_list


def add_parsers(subparsers) -> None:
    """Register `dsc benchmark`."""
    p = subparsers.add_parser(
        "benchmark",
        help="compare methods on the same data over several seeds",
        description="Fit every method on the same preprocessed data with several seeds; "
        "write benchmark.json and benchmark.md (mean ± std over seeds, stability).",
    )
    add_selection_arguments(p)
    p.add_argument("--methods", help="comma-separated method names (default: all)")
    p.add_argument("--seeds", default="3", metavar="N", help="seeds 0..N-1 (default 3)")
    p.add_argument(
        "--paper-table",
        action="store_true",
        help="also print (and write benchmark-paper.md) the paper's table layout, with its "
        "published figures beside ours",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the two files")
    p.set_defaults(func=benchmark_command)


def benchmark_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dsc_core.baselines import METHODS
    from dsc_core.benchmark import markdown_table, paper_table, run_benchmark, write_benchmark

    config = config_from_args(args, "kmeans")
    methods = parse_list(args.methods) or list(METHODS)
    seeds = parse_int(args.seeds, "--seeds")
    with tqdm(total=len(methods) * max(seeds, 0), unit="fit", file=sys.stderr) as bar:

        def progress(method: str, seed: int, result: dict) -> None:
            bar.set_description(f"{method} seed {seed}")
            bar.update(1)

        result = run_benchmark(
            config, methods=methods, seeds=seeds, callbacks=[progress], out=args.out
        )
    js, md = write_benchmark(result, args.out)
    print(markdown_table(result))
    written = [js, md]
    if args.paper_table:
        paper = Path(args.out) / "benchmark-paper.md"
        paper.write_text(paper_table(result))
        print(paper_table(result))
        written.append(paper)
    print("written: " + ", ".join(map(str, written)))
    return 0
