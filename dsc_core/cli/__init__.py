"""`dsc`: the command line. Argument parsing and messages only; the work is in dsc_core.

Each sub-module registers its sub-commands with ``add_parsers(subparsers)`` and sets
``func`` on its parser; so do the ``add_parsers`` functions of the entry-point group
``dsc.commands`` (the dashboard's `dsc report` and `dsc figure`, which draw with the app's
libraries and so do not belong to the engine). ``main`` turns every
:class:`~dsc_core.errors.DSCError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from dsc_core.errors import ConfigError, DSCError


def build_parser() -> argparse.ArgumentParser:
    from dsc_core.cli import benchmark, choose_k, data, runs, sweep, train

    parser = argparse.ArgumentParser(
        prog="dsc", description="Deep Spatiotemporal Clustering of gridded climate data."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data, train, runs, benchmark, choose_k, sweep):
        module.add_parsers(subparsers)
    for entry in entry_points(group="dsc.commands"):
        entry.load()(subparsers)
    return parser


def _threads(value: str | None):
    """``--threads N``: torch and the numerical libraries on N threads while the command runs
    (:func:`dsc_core.threads.limited_threads`); every core without it."""
    from dsc_core.cli.train import parse_int
    from dsc_core.threads import limited_threads

    n = None if value is None else parse_int(value, "--threads")
    if n is not None and n < 1:
        raise ConfigError(f"--threads must be at least 1, got {n}")
    return limited_threads(n)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _threads(getattr(args, "threads", None)):
            return int(args.func(args) or 0)
    except DSCError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
