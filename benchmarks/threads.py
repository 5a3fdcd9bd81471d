"""Speed of a DSC run against the threads it may use (the CLI's ``--threads N``).

Runs the default run on the built-in sample (DSC, K=4, the default preset) under
``dsc_core.threads.limited_threads(N)`` for N = 1 … the machine's cores, each ``--repeats``
times, and prints the fit and whole-run seconds (medians), the speed-up over one thread, and
whether each N repeats its own labels and agrees with one thread's (ARI).

    python benchmarks/threads.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from dsc_core.pipeline import RunConfig, run  # noqa: E402
from dsc_core.threads import limited_threads  # noqa: E402


def main(repeats: int) -> None:
    cores = len(os.sched_getaffinity(0))
    rows, first = [], {}
    for n in range(1, cores + 1):
        fits, totals, labels = [], [], []
        for _ in range(repeats):
            start = time.perf_counter()
            with limited_threads(n):
                result = run(RunConfig())
            totals.append(time.perf_counter() - start)
            fits.append(result.metrics["fit_seconds"])
            labels.append(result.labels.values)
        first[n] = labels[0]
        repeat = all(np.array_equal(labels[0], other) for other in labels[1:])
        rows.append((n, statistics.median(fits), statistics.median(totals), repeat))
    print(f"DSC on the sample, default preset, {repeats} runs each, {cores} cores\n")
    print("| threads | fit s | run s | fit speed-up | repeats itself | ARI vs 1 thread |")
    print("|---:|---:|---:|---:|---|---:|")
    for n, fit, total, repeat in rows:
        ari = adjusted_rand_score(first[1], first[n])
        print(f"| {n} | {fit:.1f} | {total:.1f} | {rows[0][1] / fit:.2f}× | {repeat} | {ari:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per thread count")
    main(parser.parse_args().repeats)
