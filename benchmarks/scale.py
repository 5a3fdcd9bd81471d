"""How a run scales with the length of the record: peak memory and time for 1, 10, ... years.

    python benchmarks/scale.py [--years 1,10,40] [--method dsc]

For each length, writes that many years of the built-in sample to NetCDF, runs `dsc train` on
it in a child process (the default preset) and prints one Markdown row: days, size on disk,
fit seconds, seconds per pretraining epoch, total seconds and the child's peak resident memory
(Linux ``ru_maxrss``), with the ratio of the peak to the data. The issue's target is a peak
below 2.5 GB for every length and an epoch time linear in days.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

TRAIN = (
    "import resource, sys\n"
    "from dsc_core.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)
"""`dsc train` in a child that prints its own peak resident memory (KiB) last."""


def run_years(years: int, method: str, folder: Path) -> dict:
    """Write ``years`` of the sample, train on them in a child process, measure."""
    data = folder / f"sample-{years}y.nc"
    end = 2021
    subprocess.run(
        [sys.executable, "-m", "dsc_core.cli", "sample", "--start", f"{end - years + 1}-01-01",
         "--end", f"{end}-12-31", "--out", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    out = folder / f"run-{years}y"
    train = ["train", "--data", str(data), "--method", method, "--quiet", "--out", str(out)]
    child = subprocess.run([sys.executable, "-c", TRAIN, *train], check=True,
                           capture_output=True, text=True)  # fmt: skip
    peak_kb = int(child.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv") if (out / "history.csv").stat().st_size > 1 else None
    epoch = None
    if history is not None and "phase" in history:
        pre = history[history["phase"] == "pretrain"]["elapsed"].to_numpy()
        epoch = float(pre[1] - pre[0]) if len(pre) > 1 else None
    size_mb = data.stat().st_size / 2**20
    peak_gb = peak_kb / 2**20
    return {
        "years": years,
        "days": metrics["n_days"],
        "data_mb": size_mb,
        "fit_s": metrics["fit_seconds"],
        "epoch_s": epoch,
        "total_s": metrics["total_seconds"],
        "peak_gb": peak_gb,
        "peak_over_data": peak_gb * 1024 / size_mb,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--years", default="1,10,40")
    p.add_argument("--method", default="dsc")
    args = p.parse_args()
    print("| years | days | data MB | fit s | s / epoch | total s | peak RSS GB | peak / data |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for years in (int(y) for y in args.years.split(",")):
            r = run_years(years, args.method, Path(tmp))
            epoch = "—" if r["epoch_s"] is None else f"{r['epoch_s']:.1f}"
            print(f"| {years} | {r['days']} | {r['data_mb']:.0f} | {r['fit_s']:.0f} | {epoch} | "
                  f"{r['total_s']:.0f} | {r['peak_gb']:.2f} | {r['peak_over_data']:.0f}× |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
