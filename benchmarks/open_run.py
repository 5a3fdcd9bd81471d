"""What opening a stored run costs: time and resident memory, step by step, in a fresh process.

    python benchmarks/open_run.py RUN_DIR [RUN_DIR ...]
    python benchmarks/open_run.py --sample-years 10        # makes a k-means run of the sample

For each run, a child process imports the engine, then times and measures its resident memory
(Linux ``/proc/self/statm``) after: reading the run (:func:`dsc_core.runs.load_run`: labels,
latent, composites; the fields stay on disk), the composite of the days of its largest cluster
(:func:`dsc_core.composites.composite_of_days`, what a selection on the page costs), the
composite of 30 days, and one day's fields (a click on the timeline). Prints one Markdown row a
run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

OPEN = r"""
import json, os, sys, time
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

from dsc_core.composites import composite_of_days
import scipy.stats  # imported by the server already
from dsc_core.runs import load_run

steps, base = {}, rss_mb()
def mark(name, t0):
    steps[name] = (time.perf_counter() - t0, rss_mb() - base)

t0 = time.perf_counter()
run = load_run(sys.argv[1])
run.composites["anomaly"].values
mark("open", t0)
labels = run.labels.values
t0 = time.perf_counter()
composite_of_days(run.fields, labels == np.bincount(labels).argmax())
mark("cluster", t0)
t0 = time.perf_counter()
days = np.zeros(len(labels), bool)
days[len(labels) // 2 : len(labels) // 2 + 30] = True
composite_of_days(run.fields, days)
mark("month", t0)
t0 = time.perf_counter()
day = run.fields.isel(time=len(labels) // 3)
{v: day[v].values for v in day.data_vars}
mark("day", t0)
print(json.dumps({"days": len(labels), "steps": steps}))
"""


def sample_run(years: int, folder: Path) -> Path:
    """A k-means run (K = 4) of ``years`` of the built-in sample, ending in 2021."""
    data, out = folder / f"sample-{years}y.nc", folder / f"run-{years}y"
    cli = [sys.executable, "-m", "dsc_core.cli"]
    subprocess.run([*cli, "sample", "--start", f"{2022 - years}-01-01", "--end", "2021-12-31",
                    "--out", str(data)], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*cli, "train", "--data", str(data), "--method", "kmeans", "--quiet",
                    "--out", str(out)], check=True, capture_output=True)  # fmt: skip
    return out


def measure(run: Path) -> str:
    child = subprocess.run([sys.executable, "-c", OPEN, str(run)], capture_output=True, text=True)
    if child.returncode:
        sys.exit(f"opening {run} failed:\n{child.stderr[-3000:]}")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    stored = run / "fields.zarr" if (run / "fields.zarr").is_dir() else run / "fields.nc"
    files = [stored] if stored.is_file() else [f for f in stored.rglob("*") if f.is_file()]
    fields_mb = sum(f.stat().st_size for f in files) / 2**20
    cells = " | ".join(f"{s:.2f} s, {mb:+.0f} MB" for s, mb in r["steps"].values())
    return f"| {run.name} | {r['days']} | {fields_mb:.0f} | {cells} |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--sample-years", type=int, help="also make and open a run of the sample")
    args = p.parse_args()
    print("| run | days | fields MB | open (maps) | a cluster's days | 30 days | one day |")
    print("|---|---:|---:|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        runs = list(args.runs)
        if args.sample_years:
            runs.append(sample_run(args.sample_years, Path(tmp)))
        for run in runs:
            print(measure(run), flush=True)


if __name__ == "__main__":
    main()
