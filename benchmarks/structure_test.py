"""The data's red-noise structure test (``dsc_core.trust.structure_test``) on every case of the
validation suite and on its twin without regimes (the same noise, anomalies, variables and
record, ``n_regimes=0``): with 10 or 20 leading principal components, and with 10 smoothed
by 5-day running means (regimes last for days; the red-noise surrogates are smoothed alike).

    python benchmarks/structure_test.py --jobs 2 --out structure.json
    python benchmarks/structure_test.py --read structure.json

Prints per half: how many regime-free twins pass as structured (the test's false positives;
~5 % expected at the 95 % threshold) and the trust warnings' hit and false-alarm rates when
each variant replaces the stored structure test in ``benchmarks/suite-<half>.json`` (the
other checks as stored).
"""

from __future__ import annotations

import argparse
import copy
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from dsc_core.data.synthetic import SUITE
from dsc_core.data.synthetic.generator import generated_suite
from dsc_core.features import valid_cells_pca
from dsc_core.trust import THRESHOLDS, structure_test
from dsc_core.validation import DEFAULT_K_WITHOUT_REGIMES, prepare_case, rewarn, warning_rates

HERE = Path(__file__).resolve().parent
TESTS = {"10": {"n_components": 10}, "20": {"n_components": 20},
         "10s5": {"n_components": 10, "smooth": 5}}  # fmt: skip
"""The structure tests run on each case, by key."""
VARIANTS = {
    "10 PCs (default)": (("10",), 95.0),
    "20 PCs": (("20",), 95.0),
    "10 or 20 PCs, 97.5 % each": (("10", "20"), 97.5),
    "10 PCs, 5-day means": (("10s5",), 95.0),
    "10 PCs daily or 5-day means, 97.5 % each": (("10", "10s5"), 97.5),
}
"""How a case passes: any of these tests at or above the threshold (%)."""


def percentiles(case) -> dict:
    """{"regimes": {n: percentile}, "noise": {...}} of ``case`` and its regime-free twin."""
    from dsc_core.threads import limited_threads

    out = {}
    twins = {"regimes": case}
    if case.n_regimes:
        twins["noise"] = replace(case, n_regimes=0, frequencies=None)
    with limited_threads(1):
        for name, c in twins.items():
            data = prepare_case(c)
            pca, flat = valid_cells_pca(data.X, data.mask, 20, seed=0)
            pcs = pca.fit_transform(flat)
            k = case.n_regimes or DEFAULT_K_WITHOUT_REGIMES
            out[name] = {key: structure_test(pcs, k, data.time, **options)["percentile"]
                         for key, options in TESTS.items()}  # fmt: skip
    return {"case": case.name, "half": case.half, **out}


def passes(p: dict, variant: str) -> bool:
    keys, threshold = VARIANTS[variant]
    return max(p[key] for key in keys) >= threshold


def report(rows: list[dict]) -> None:
    for half in ("choose", "report"):
        suite = json.loads((HERE / f"suite-{half}.json").read_text())["cases"]
        mine = {r["case"]: r for r in rows if r["half"] == half}
        print(f"\n{half} half ({len(mine)} cases)")
        print("| variant | noise twins passing | regime cases failing | hit rate | false alarm |")
        print("|---|---:|---:|---:|---:|")
        for variant in VARIANTS:
            twins = [r["noise"] for r in mine.values() if "noise" in r]
            regimes = [r["regimes"] for r in mine.values() if "noise" in r]
            cases = copy.deepcopy([c for c in suite if c["case"] in mine])
            for c in cases:
                s = c["trust"]["structure"]
                p = mine[c["case"]]["regimes"]
                s["percentile"] = 100.0 if passes(p, variant) else 0.0
            rates = warning_rates(rewarn(cases, THRESHOLDS))
            print(f"| {variant} | {sum(passes(t, variant) for t in twins)}/{len(twins)} | "
                  f"{sum(not passes(p, variant) for p in regimes)}/{len(regimes)} | "
                  f"{rates['hit_rate']:.0%} of {rates['should_warn']} | "
                  f"{rates['false_alarm']:.0%} of {rates['fine']} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--read", type=Path, help="print the table of a former --out")
    args = parser.parse_args()
    if args.read:
        rows = json.loads(args.read.read_text())
    else:
        cases = [*SUITE.values(), *generated_suite()]
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(percentiles, cases))
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1))
    report(rows)


if __name__ == "__main__":
    main()
