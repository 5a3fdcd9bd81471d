"""`dsc sample`, `dsc fetch-era5`, `dsc info`: data sub-commands (parsing and messages only)."""

from __future__ import annotations

import argparse
import json

from dsc_core.errors import ConfigError


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--{what} '{text}' is not a comma-separated list of integers") from None


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the synthetic sample, or a case of the validation suite, to ``args.out``."""
    from dsc_core.data.io import write_netcdf
    from dsc_core.data.synthetic import SUITE, find_case, generated_suite, make_case, sample

    if args.list_cases:
        for name, case in SUITE.items():
            print(f"{name:24s} {case.half:7s} {case.description}")
        for case in generated_suite():
            print(f"{case.name:24s} {case.half:7s} {case.description}")
        return 0
    if not args.out:
        raise ConfigError("dsc sample needs --out FILE.nc (or --list-cases)")
    if args.case is not None:
        case = find_case(args.case)
        case = case if args.seed is None else case.with_seed(args.seed)
        ds = make_case(case)
        path = write_netcdf(ds, args.out)
        planted = (
            f"{case.n_regimes} planted regimes in the coordinate 'regime'"
            if case.n_regimes
            else "no regimes planted"
        )
        n_days = ds.sizes["valid_time" if "valid_time" in ds.dims else "time"]
        print(
            f"wrote {path}: SYNTHETIC case {case.name} (not real data): {case.description}; "
            f"{n_days} days, {planted} (seed {case.seed})"
        )
        return 0
    seed = 0 if args.seed is None else args.seed
    ds = sample(start=args.start, end=args.end, n_regimes=args.regimes, seed=seed)
    path = write_netcdf(ds, args.out)
    print(
        f"wrote {path}: SYNTHETIC ERA5-like sample (not real data), {ds.sizes['time']} days "
        f"{args.start}..{args.end}, {len(ds.data_vars) - 1} variables, {args.regimes} planted "
        f"regimes (seed {seed})"
    )
    return 0


def cmd_fetch_era5(args: argparse.Namespace) -> int:
    """Download hourly ERA5 from the CDS and write daily NetCDF to ``args.out``."""
    from dsc_core.cli.train import parse_bbox
    from dsc_core.data.era5 import fetch_era5

    bbox = parse_bbox(args.bbox)
    years = _ints(args.years, "years")
    hours = _ints(args.hours, "hours") if args.hours else None
    levels = _ints(args.levels, "levels") if args.levels else None
    default = "z" if levels is not None else "sst,t2m,sp,sshf,slhf,u10,v10"
    variables = [v.strip() for v in (args.variables or default).split(",") if v.strip()]
    path = fetch_era5(args.out, years, variables, bbox, hours=hours, progress=print, levels=levels)
    print(f"wrote {path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print what describe() finds in a source."""
    from dsc_core.data import describe

    info = describe(
        args.source if len(args.source) > 1 or args.source[0] == "sample" else args.source[0]
    )
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    kind = "synthetic sample" if info["synthetic"] else f"{info['files']} file(s)"
    step = "daily" if info["time_step"] == "1D" else f"step {info['time_step']}"
    print(
        f"{kind}: {info['n_days']} days {info['start']} .. {info['end']} "
        f"({step}, {info['days']}, calendar {info['calendar']})"
    )
    lat, lon = info["latitude"], info["longitude"]
    print(
        f"grid {info['shape'][0]} x {info['shape'][1]}: latitude {lat[0]:g}..{lat[1]:g}, "
        f"longitude {lon[0]:g}..{lon[1]:g}"
    )
    for dim, values in info["levels"].items():
        print(f"levels on {dim}: {', '.join(map(str, values))} (pick one with level=)")
    print("variables:")
    for name, text in info["variables"].items():
        print(f"  {name:8s} {text}")
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `sample`, `fetch-era5` and `info`."""
    p = subparsers.add_parser(
        "sample", help="write the synthetic ERA5-like sample (planted regimes) to NetCDF"
    )
    p.add_argument("--out", help="output NetCDF file")
    p.add_argument("--case", help="a case of the validation suite instead of the sample")
    p.add_argument("--list-cases", action="store_true", help="list the suite's cases")
    p.add_argument("--start", default="2021-01-01", help="first day, YYYY-MM-DD")
    p.add_argument("--end", default="2021-12-31", help="last day, YYYY-MM-DD")
    p.add_argument("--regimes", type=int, default=4, help="number of planted regimes (2-8)")
    p.add_argument("--seed", type=int, help="random seed (default: 0, or the case's own)")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "fetch-era5", help="download hourly ERA5 from the CDS (needs a key) and write daily NetCDF"
    )
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--years", required=True, help="comma-separated years, e.g. 2021,2022")
    p.add_argument(
        "--variables",
        default=None,
        help="ERA5 short names (default sst,t2m,sp,sshf,slhf,u10,v10; with --levels: z)",
    )
    p.add_argument("--bbox", default="33,43,-33,-23",
                   help="lat_min,lat_max,lon_min,lon_max in degrees, as for train (default: the "
                   "sample's box, 33,43,-33,-23)")  # fmt: skip
    p.add_argument(
        "--hours", default=None, help="only these UTC hours, e.g. 0,6,12,18 (default all 24)"
    )
    p.add_argument(
        "--levels",
        default=None,
        help="pressure levels in hPa, e.g. 500 or 500,850: fetch reanalysis-era5-pressure-levels "
        "variables (z, t, u, v, q, w, ...) one request per month",
    )
    p.set_defaults(func=cmd_fetch_era5)

    p = subparsers.add_parser("info", help="describe a data file, folder, glob or 'sample'")
    p.add_argument("source", nargs="+", help="file(s), folder, glob or 'sample'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)
