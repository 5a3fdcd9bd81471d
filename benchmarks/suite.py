"""The validation suite: DSC and the classical baselines on synthetic cases with a planted truth.

    python benchmarks/suite.py --half report --seeds 1 --jobs 2       # the README's table
    python benchmarks/suite.py --half choose --params '{"metric": "latent"}'   # try a setting
    python benchmarks/suite.py --cases sp-only,gen-017 --methods dsc,kmeans

The suite is the 18 named cases (``dsc_core.data.synthetic.SUITE``) and ``--generated`` (48)
randomised ones (``dsc_core.data.synthetic.generator``, about 15 % without regimes); ``--only``
keeps one of the two. Defaults are chosen on the "choose" half and reported on the "report"
half (named cases by their ``half``, generated ones by the parity of their generator seed).
Prints one Markdown table: per case ARI mean ± std · seed agreement · fit seconds per method,
the supervised ceiling, DSC's margin over the best classical method and its warnings; then the
targets' verdict with the worst cases and the warnings' hit and false-alarm rates. ``--out``
also writes the JSON (and every method's labels of the first seed beside it,
``*.labels.json``); ``--calibrate FILE`` prints the warnings' rates for a grid of thresholds
on such a file. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dsc_core.data.synthetic import SUITE, Case, find_case
from dsc_core.data.synthetic.generator import generated_suite
from dsc_core.errors import ConfigError
from dsc_core.trust import warnings_for
from dsc_core.validation import (
    CLASSICAL,
    calibration_table,
    data_structure,
    prepare_case,
    run_case,
    suite_table,
)


def _progress(case: str, method: str, seed: int, run: dict) -> None:
    ari = "—" if run["ari"] is None else f"{run['ari']:.3f}"
    print(f"{case} {method} seed {seed}: ARI {ari}, {run['seconds']:.1f} s",
          file=sys.stderr, flush=True)  # fmt: skip


def _run(
    case: Case, methods: list[str], seeds: int, params: dict, weighting: bool, clip, threads: int
):
    """One case in a worker process, its numerical libraries on ``threads`` threads (workers
    that together start more threads than there are cores slow each other down many times)."""
    from dsc_core.threads import limited_threads

    with limited_threads(threads):
        return run_case(prepare_case(case, weighting, clip), methods, seeds, params, [_progress])


def select(args: argparse.Namespace) -> list[Case]:
    """The cases named by ``--cases``, or the ``--half`` of ``--only`` the named or the
    generated cases (both by default)."""
    if args.cases:
        return [find_case(name) for name in args.cases.split(",")]
    cases = [] if args.only == "generated" else list(SUITE.values())
    if args.only != "named":
        cases += generated_suite(args.generated)
    return cases if args.half == "all" else [c for c in cases if c.half == args.half]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--half", choices=("choose", "report", "all"), default="report")
    p.add_argument("--only", choices=("named", "generated"), help="one part of the suite")
    p.add_argument("--generated", type=int, default=48, help="randomised cases (default 48)")
    p.add_argument("--cases", help="comma-separated case names (instead of --half)")
    p.add_argument("--methods", default=",".join(("dsc", *CLASSICAL)))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--params", default="{}", help="JSON of estimator settings for every method")
    p.add_argument(
        "--area-weighting",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="weight cells by √cos(latitude), as runs do by default (default: yes)",
    )
    p.add_argument("--clip", type=float, help="clip z-scores at ± this many standard deviations")
    p.add_argument("--jobs", type=int, default=1, help="cases fitted at once (processes)")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument(
        "--calibrate",
        metavar="RESULTS",
        help="print the warnings' hit and false-alarm rates for a grid of thresholds on a "
        "stored --out file (no fitting)",
    )
    p.add_argument(
        "--recheck",
        metavar="RESULTS",
        help="redo the red-noise test of the data of a stored --out file in place (no "
        "fitting: for a changed test), then print its tables",
    )
    args = p.parse_args(argv)
    if args.calibrate:
        print(calibration_table(json.loads(Path(args.calibrate).read_text())["cases"]))
        return 0
    if args.recheck:
        stored = json.loads(Path(args.recheck).read_text())
        for c in stored["cases"]:
            if c.get("trust") is not None:
                data = prepare_case(find_case(c["case"]), args.area_weighting, args.clip)
                c["trust"]["structure"] = data_structure(data)
                c["trust"]["warnings"] = warnings_for("dsc", c["trust"])
                percentile = c["trust"]["structure"]["percentile"]
                print(f"{c['case']}: {percentile:.0f} %", file=sys.stderr)
        Path(args.recheck).write_text(json.dumps(stored, indent=1))
        print_tables(stored["cases"])
        return 0
    try:
        cases = select(args)
    except ConfigError as e:
        p.error(str(e))
    params = json.loads(args.params)
    methods = args.methods.split(",")
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    task = (methods, args.seeds, params, args.area_weighting, args.clip, threads)

    results, labels = [], {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(args.jobs, 1), mp_context=context) as pool:
        for result in pool.map(_run, cases, *([t] * len(cases) for t in task)):
            labels[result["case"]] = result.pop("labels")
            results.append(result)
            if args.out:
                out = {"params": params, "cases": results}
                Path(args.out).write_text(json.dumps(out, indent=1))
                Path(args.out).with_suffix(".labels.json").write_text(json.dumps(labels))
    print_tables(results)
    return 0


def print_tables(results: list[dict]) -> None:
    """One table per half present in ``results``."""
    for half in ("choose", "report"):
        part = [r for r in results if r["half"] == half]
        if part:
            print(f"## The {half} half\n\n{suite_table(part)}")


if __name__ == "__main__":
    raise SystemExit(main())
