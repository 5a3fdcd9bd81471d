"""Epoch time of DSC's presets on the CPU and, where there is one, on a CUDA GPU, in full and
mixed precision.

    python benchmarks/gpu.py [--days 365] [--presets paper,default]

Trains one pretraining epoch over ``--days`` days of the built-in sample per (preset, device,
precision) and prints a Markdown table of seconds per epoch (the second of two epochs, so that
start-up costs are left out). CUDA rows appear only where ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import dsc_core
from dsc_core import DSC, Preprocessor


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--presets", default="paper,default")
    args = p.parse_args()
    ds = dsc_core.sample()
    ds = ds.isel(time=slice(0, args.days))
    pre = Preprocessor(deseasonalize=True)
    X = pre.fit_transform(ds)
    runs = [("cpu", "32"), ("cpu", "bf16")]
    if torch.cuda.is_available():
        runs += [("cuda", "32"), ("cuda", "bf16"), ("cuda", "16")]
    device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"{len(X)} days of the sample, 41 × 41 × 7; CUDA device: {device_name}\n")
    print("| preset | device | precision | seconds per epoch |\n|---|---|---|---:|")
    for preset in args.presets.split(","):
        for device, precision in runs:
            seconds = epoch_seconds(X, pre.padded_mask_, preset, device, precision)
            print(f"| {preset} | {device} | {precision} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
