"""How big a run's report is and how long it and a figure take to build.

    python benchmarks/report.py RUN_DIR [RUN_DIR ...]

Prints one row per run: days, variables, grid, the report's size and build time (UMAP read
from the run folder's cache, or computed and cached on the first build: run twice to see
both), and the time of a PDF figure of the first variable. Each run is built in this one
process, after a first report of the first run has paid for the imports and the plotting
libraries' set-up.
"""

from __future__ import annotations

import argparse
import time

from dashboard.figures import composite_figure
from dashboard.report import report_html
from dsc_core.runs import load_run


def measure(path: str) -> dict:
    run = load_run(path)
    started = time.perf_counter()
    html = report_html(run)
    report_s = time.perf_counter() - started
    started = time.perf_counter()
    composite_figure(run, str(run.composites["variable"].values[0]), fmt="pdf")
    return {
        "run": run.name,
        "days": run.n_days,
        "variables": run.composites.sizes["variable"],
        "grid": f"{run.fields.sizes['latitude']}x{run.fields.sizes['longitude']}",
        "report_mb": len(html.encode()) / 1e6,
        "report_s": report_s,
        "figure_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    args = parser.parse_args()
    report_html(load_run(args.runs[0]))  # imports, numba, Bokeh and HoloViews set-up
    print(f"{'run':<32} {'days':>5} {'vars':>4} {'grid':>7} {'MB':>5} {'report s':>8} "
          f"{'figure s':>8}")  # fmt: skip
    for path in args.runs:
        r = measure(path)
        print(f"{r['run']:<32} {r['days']:>5} {r['variables']:>4} {r['grid']:>7} "
              f"{r['report_mb']:>5.1f} {r['report_s']:>8.1f} {r['figure_s']:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
