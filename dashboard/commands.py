"""`dsc report` and `dsc figure`: a run's self-contained HTML report and its publication figure.

These commands draw with the app's libraries (Bokeh, HoloViews, matplotlib), so they live
here, not in the engine: the package registers them with `dsc` through the entry-point group
``dsc.commands`` (pyproject.toml), which ``dsc_core.cli`` reads.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dsc_core.errors import ConfigError


def add_parsers(subparsers) -> None:
    """Register `dsc report` and `dsc figure`."""
    p = subparsers.add_parser(
        "report",
        help="write a run as one self-contained HTML file",
        description="One HTML file that opens offline without Python: the run's settings, "
        "provenance and trust warnings, every variable's composites, the latent space and "
        "timeline (linked: a box on one highlights the days on the other), regime "
        "statistics and scores. All JavaScript is inline; nothing is fetched.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run directory")
    p.add_argument("--out", required=True, metavar="HTML", help="the file to write")
    p.add_argument("--projection", choices=("umap", "pca"), default="umap",
                   help="map of the latent space: UMAP (default; cached in the run folder) "
                   "or the first two principal components (at once)")  # fmt: skip
    p.set_defaults(func=report_command)

    p = subparsers.add_parser(
        "figure",
        help="write a run's composites of one variable as a publication figure",
        description="Every cluster's composite of one variable in one figure: a shared colour "
        "bar in physical units (symmetric for anomalies), coastlines, stippling where "
        "significant, each panel titled with the cluster's share of days. PNG, PDF, SVG or "
        "EPS, by the file's suffix.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run directory")
    p.add_argument("--variable", help="variable to draw (default: the run's first)")
    p.add_argument("--field", choices=("anomaly", "mean"), default="anomaly",
                   help="composite anomaly against the whole period (default) or mean")  # fmt: skip
    p.add_argument("--width", type=float, default=174.0, metavar="MM",
                   help="width in mm: 174 a journal page (default), 85 one column")  # fmt: skip
    p.add_argument("--out", required=True, metavar="FILE", help="fig.png, fig.pdf, fig.svg ...")
    p.set_defaults(func=figure_command)


def writable(out: str) -> Path:
    """``out`` as a path a file can be written to; ConfigError (before any work) otherwise."""
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"--out {out} is a folder: give a file name")
    if not path.parent.is_dir():
        raise ConfigError(f"folder {path.parent} does not exist: create it or choose another --out")
    return path


def write_atomically(out: Path, content: bytes) -> None:
    """Write ``content`` to ``out`` in one step: a temporary file beside it, then a rename, so
    the file is complete or absent."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _file_name(source: str) -> str:
    """A data source as a report names it: a file or folder by its name (a report is shared:
    no local path in it)."""
    return Path(source).name if os.sep in source else source


def report_command(args: argparse.Namespace) -> int:
    from dashboard.report import report_html
    from dsc_core.runs import load_run

    out = writable(args.out)
    started = time.perf_counter()
    html = report_html(load_run(args.run), _file_name, projection=args.projection).encode()
    write_atomically(out, html)
    print(f"report → {out} ({len(html) / 1e6:.1f} MB, {time.perf_counter() - started:.0f} s)")
    return 0


def figure_command(args: argparse.Namespace) -> int:
    from dashboard.figures import composite_figure, figure_format
    from dsc_core.runs import load_run

    out = writable(args.out)
    fmt = figure_format(out)
    if not 40 <= args.width <= 500:
        raise ConfigError(f"--width {args.width:g} mm is not a figure's width: give 40 to 500")
    run = load_run(args.run)
    variable = args.variable or str(run.composites["variable"].values[0])
    write_atomically(out, composite_figure(run, variable, args.field, args.width, fmt))
    print(f"{variable} {args.field} composites of {run.name} → {out}")
    return 0
