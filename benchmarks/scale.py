"""How a run scales with the length of the record and the grid: peak memory and time.

    python benchmarks/scale.py [--years 1,10,40] [--euro-atlantic 40] [--max-minutes M] [--keep DIR]

For each length, writes that many years of the built-in sample (41 × 41, 7 variables) to
NetCDF; with ``--euro-atlantic N``, also N years of a 1° Euro-Atlantic grid (20–80N, 90W–40E,
61 × 131) with 5 surface variables, generated a year at a time straight into a Zarr store
(regimes on the leading EOFs of real winter Z500, :mod:`dsc_core.data.synthetic.cases`).
Each is trained with `dsc train` (default preset, K = 4) in a child process, and one Markdown
row is printed: days, size of the data, seconds to load and preprocess, to fit, per
pretraining epoch (and per 1000 days), for the analysis and for the whole child (saving the
run included), the child's peak resident memory (Linux ``ru_maxrss``), whether the days were
kept on disk (``--memory-budget``), and the ARI against the planted regimes (k-means').
The issue's targets: a peak below 2.5 GB for every row, epoch time linear in days.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
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

EURO_ATLANTIC = {"lat": (20.0, 80.0), "lon": (-90.0, 40.0), "resolution": 1.0}
EA_VARIABLES = ["t2m", "sp", "sshf", "u10", "v10"]


def sample_file(years: int, folder: Path) -> Path:
    """``years`` of the built-in sample, ending in 2021, as NetCDF."""
    data = folder / f"sample-{years}y.nc"
    end = 2021
    subprocess.run(
        [sys.executable, "-m", "dsc_core.cli", "sample", "--start", f"{end - years + 1}-01-01",
         "--end", f"{end}-12-31", "--out", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    return data


def euro_atlantic_store(years: int, folder: Path) -> Path:
    """``years`` of a 1° Euro-Atlantic surface case in a Zarr store, written a year at a
    time (each year its own seed; the regime patterns are the same EOFs every year)."""
    from dsc_core.data.synthetic.cases import Case, make_case

    store = folder / f"euro-atlantic-{years}y.zarr"
    for i, year in enumerate(range(2021 - years + 1, 2022)):
        case = Case("euro-atlantic", "scale benchmark", years=(year, year), patterns="eofs",
                    seed=year, **EURO_ATLANTIC)  # fmt: skip
        ds = make_case(case)[EA_VARIABLES]
        ds.to_zarr(store, mode="w" if i == 0 else "a", append_dim=None if i == 0 else "time")
    return store


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def train(data: Path, out: Path, method: str, extra: list[str]) -> dict:
    """Train on ``data`` in a child process; its metrics, epoch time and peak memory."""
    argv = ["train", "--data", str(data), "--method", method, "--quiet", "--out", str(out)]
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", TRAIN, *argv, *extra],
                           capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    if child.returncode:
        sys.exit(f"dsc train failed on {data}:\n{child.stderr[-3000:]}")
    peak_kb = int(child.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv") if (out / "history.csv").stat().st_size > 1 else None
    epoch = None
    if history is not None and "phase" in history:
        pre = history[history["phase"] == "pretrain"]["elapsed"].to_numpy()
        epoch = float(pre[1] - pre[0]) if len(pre) > 1 else None
    return {
        "days": metrics["n_days"],
        "prep_s": metrics["load_seconds"] + metrics["preprocess_seconds"],
        "fit_s": metrics["fit_seconds"],
        "epoch_s": epoch,
        "analysis_s": metrics["analysis_seconds"],
        "wall_s": wall,
        "peak_gb": peak_kb / 2**20,
        "on_disk": metrics.get("days_on_disk", False),
        "ari": (metrics.get("truth") or {}).get("ari"),
        "kmeans_ari": ((metrics["reference"].get("truth") or {}).get("ari")),
    }


def row(name: str, data: Path, r: dict) -> str:
    epoch = "—" if r["epoch_s"] is None else f"{r['epoch_s']:.1f}"
    per_k = "—" if r["epoch_s"] is None else f"{r['epoch_s'] / r['days'] * 1000:.2f}"
    ari = "—" if r["ari"] is None else f"{r['ari']:.2f} ({r['kmeans_ari']:.2f})"
    return (f"| {name} | {r['days']} | {size_mb(data):.0f} | {r['prep_s']:.0f} | "
            f"{r['fit_s']:.0f} | {epoch} | {per_k} | {r['analysis_s']:.0f} | {r['wall_s']:.0f} | "
            f"{r['peak_gb']:.2f} | {'yes' if r['on_disk'] else 'no'} | {ari} |")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--years", default="1,10,40", help="lengths of the sample ('' for none)")
    p.add_argument("--euro-atlantic", type=int, default=0, metavar="YEARS")
    p.add_argument("--method", default="dsc")
    p.add_argument("--max-minutes", default=None, help="time budget of each training")
    p.add_argument("--keep", type=Path, help="keep the runs in this folder (for open_run.py)")
    args = p.parse_args()
    extra = [] if args.max_minutes is None else ["--max-minutes", args.max_minutes]
    print("| data | days | data MB | load + preprocess s | fit s | s / epoch | "
          "s / epoch / 1000 days | analysis s | wall s | peak RSS GB | days on disk | "
          "ARI (k-means) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = args.keep or folder
        for years in (int(y) for y in args.years.split(",") if y):
            data = sample_file(years, folder)
            r = train(data, runs / f"run-{years}y", args.method, extra)
            print(row(f"sample, {years} y", data, r), flush=True)
            data.unlink()
        if args.euro_atlantic:
            data = euro_atlantic_store(args.euro_atlantic, folder)
            r = train(data, runs / "run-ea", args.method, extra)
            print(row(f"1° Euro-Atlantic × 5, {args.euro_atlantic} y", data, r), flush=True)


if __name__ == "__main__":
    main()
