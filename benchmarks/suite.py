"""The validation suite: DSC and the classical baselines on synthetic cases with a planted truth.

    python benchmarks/suite.py --half report --seeds 3            # the README's table
    python benchmarks/suite.py --half choose --params '{"latent_dim": 16}'   # try a setting
    python benchmarks/suite.py --cases sp-only,long-spells --methods dsc,kmeans

Defaults are chosen on the "choose" half and reported on the "report" half
(``dsc_core.data.synthetic.SUITE``). Prints one Markdown table (ARI mean ± std · seed agreement ·
fit seconds per method, the supervised ceiling) with a summary row and the targets' verdict;
``--out`` also writes the JSON. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dsc_core.data.synthetic import SUITE, half
from dsc_core.validation import CLASSICAL, prepare, run_case, suite_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--half", choices=("choose", "report", "all"), default="report")
    p.add_argument("--cases", help="comma-separated case names (instead of --half)")
    p.add_argument("--methods", default=",".join(("dsc", *CLASSICAL)))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--params", default="{}", help="JSON of estimator settings for every method")
    p.add_argument(
        "--area-weighting",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="weight cells by √cos(latitude), as runs do by default (default: yes)",
    )
    p.add_argument("--clip", type=float, help="clip z-scores at ± this many standard deviations")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)

    if args.cases:
        unknown = [n for n in args.cases.split(",") if n not in SUITE]
        if unknown:
            p.error(f"unknown case(s) {unknown}: choose from {', '.join(SUITE)}")
        cases = [SUITE[n] for n in args.cases.split(",")]
    else:
        cases = list(SUITE.values()) if args.half == "all" else half(args.half)
    params = json.loads(args.params)

    def progress(case: str, method: str, seed: int, run: dict) -> None:
        print(f"{case} {method} seed {seed}: ARI {run['ari']:.3f}, {run['seconds']:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip

    results = []
    for case in cases:
        results.append(
            run_case(
                prepare(case, args.area_weighting, args.clip),
                args.methods.split(","),
                args.seeds,
                params,
                [progress],
            )  # fmt: skip
        )
        if args.out:
            Path(args.out).write_text(json.dumps({"params": params, "cases": results}, indent=1))
    print(suite_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
