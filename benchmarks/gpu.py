"""Epoch time and quality of DSC's presets on the CPU and, where there is one, a CUDA GPU, in
full and mixed precision.

    python benchmarks/gpu.py [--days 365] [--presets paper,default] [--devices cpu,cuda]
                             [--quality]

Trains one pretraining epoch over ``--days`` days of the built-in sample per (preset, device,
precision) and prints a Markdown table of seconds per epoch (the second of two epochs, so that
start-up costs are left out). CUDA rows appear only where ``torch.cuda.is_available()``.

``--quality`` then trains each preset in full (K = 4, seed 0) on each device in bf16, twice,
and prints the wall time, the ARI against the planted regimes (k-means on the same data beside
it) and whether the second run repeated the first's labels exactly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

import dsc_core
from dsc_core import DSC, Preprocessor
from dsc_core.baselines import make_estimator


def epoch_seconds(X: np.ndarray, mask: np.ndarray, preset: str, device: str, precision: str):
    """Seconds of the second pretraining epoch (the first includes start-up costs)."""
    model = DSC(4, preset=preset, device=device, precision=precision, pretrain_epochs=2,
                max_epochs=0, random_state=0)  # fmt: skip
    start = time.perf_counter()
    model.fit(X, mask=mask)
    rows = [r for r in model.history_ if r["phase"] == "pretrain"]
    if len(rows) < 2:
        return time.perf_counter() - start
    return rows[1]["elapsed"] - rows[0]["elapsed"]


def quality_rows(X, mask, truth, presets, devices):
    """One Markdown row per (preset, device): full training twice in bf16, scored and compared."""
    reference = make_estimator("kmeans", 4, random_state=0).fit_predict(X, mask=mask)
    kmeans_ari = adjusted_rand_score(truth, reference)
    for preset in presets:
        for device in devices:
            runs = []
            for _ in range(2):
                start = time.perf_counter()
                model = DSC(4, preset=preset, device=device, precision="bf16", random_state=0)
                labels = model.fit(X, mask=mask).labels_
                runs.append((time.perf_counter() - start, labels))
            (seconds, labels), (_, again) = runs
            ari = adjusted_rand_score(truth, labels)
            same = adjusted_rand_score(labels, again)
            repeated = "yes" if np.array_equal(labels, again) else f"no (ARI {same:.3f})"
            scores = f"{ari:.3f} | {kmeans_ari:.3f}"
            yield f"| {preset} | {device} | {seconds:.0f} | {scores} | {repeated} |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--presets", default="paper,default")
    p.add_argument("--devices", default="cpu,cuda", help="cuda is left out where there is none")
    p.add_argument("--quality", action="store_true", help="also train in full and score")
    args = p.parse_args()
    ds = dsc_core.sample().isel(time=slice(0, args.days))
    pre = Preprocessor(deseasonalize=True)
    X = pre.fit_transform(ds)
    truth = ds["regime"].values
    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    precisions = {"cpu": ["32", "bf16"], "cuda": ["32", "bf16", "16"]}
    presets = args.presets.split(",")
    device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"{len(X)} days of the sample, 41 × 41 × 7; CUDA device: {device_name}\n")
    print("| preset | device | precision | seconds per epoch |\n|---|---|---|---:|")
    for preset in presets:
        for device in devices:
            for precision in precisions[device]:
                seconds = epoch_seconds(X, pre.padded_mask_, preset, device, precision)
                print(f"| {preset} | {device} | {precision} | {seconds:.2f} |", flush=True)
    if args.quality:
        print("\nFull training, K = 4, seed 0, bf16, twice:\n")
        print("| preset | device | seconds | ARI | k-means ARI | labels repeated |")
        print("|---|---|---:|---:|---:|---|")
        for row in quality_rows(X, pre.padded_mask_, truth, presets, devices):
            print(row, flush=True)


if __name__ == "__main__":
    main()
