"""Randomised cases for a validation suite that cannot be overfitted.

:func:`generated_case` draws every knob of a :class:`~dsc_core.data.synthetic.cases.Case` from a
seeded generator: where the regimes sit in the variance spectrum (leading EOFs, or below larger
noise modes), red-noise amplitude, scale and persistence, per-year or per-winter anomalies,
K from 2 to 8 with unequal frequencies and spell lengths, whole years or one season only,
200 to 5000 days, variables of different distributions (zero-inflated rain, heavy-tailed
fluxes, winds derived from pressure with noise of their own), grid sizes from 10 to 48 cells a
side, and about 15 % of cases with no regimes at all.

The halves are split by generator seed: even seeds choose the defaults, odd seeds report them,
so that neither half sees the other's draws. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from dsc_core.data.synthetic.cases import PRESSURE, SURFACE, Case
from dsc_core.data.synthetic.suite import SUITE
from dsc_core.errors import ConfigError

NO_REGIMES_SHARE = 0.15
SEASONS = {"DJF": (12, 1, 2), "JJA": (6, 7, 8), "MAM": (3, 4, 5), "SON": (9, 10, 11)}
MIN_DAYS, MAX_DAYS = 200, 5000
MAX_VALUES = 12e6  # days × cells × variables: a case stays a few minutes of every method


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _variables(rng: np.random.Generator, kind: str) -> tuple[str, ...]:
    """All of the kind's variables (half the time), else a random subset, rain among them
    on a third of surface files."""
    own = list(SURFACE if kind == "surface" else PRESSURE)
    if kind == "surface" and rng.random() < 0.35:
        own.append("tp")
    if rng.random() < 0.5:
        return tuple(own)
    n = int(rng.integers(2, len(own) + 1))
    picked = rng.choice(len(own), size=n, replace=False)
    return tuple(own[i] for i in sorted(picked))


def generated_case(seed: int) -> Case:
    """One randomised case (module docstring), named ``gen-SEED``; half by seed parity."""
    rng = np.random.default_rng([20261207, seed])
    kind = "surface" if rng.random() < 0.55 else "pressure"
    keep = _variables(rng, kind)
    regimes = rng.random() >= NO_REGIMES_SHARE
    n_regimes = int(_choice(rng, (2, 3, 3, 4, 4, 4, 5, 5, 6, 7, 8))) if regimes else 0

    # grid: 10..48 cells a side, finer at the surface
    ny, nx = (int(v) for v in rng.integers(10, 49, size=2))
    res = _choice(rng, (0.25, 0.5, 0.75, 1.0) if kind == "surface" else (1.0, 1.5, 2.0, 2.5))
    ny = min(ny, int(60 / res))  # stay within 20..85°N
    south = float(np.round(rng.uniform(20.0, 85.0 - ny * res) / res) * res)
    west = float(np.round(rng.uniform(-80.0, 30.0) / res) * res)
    lat = (south, south + (ny - 1) * res)
    lon = (west, west + (nx - 1) * res)
    cells = ny * nx * len(keep)

    # record: whole years or one season, 200..5000 days within the size cap
    season = _choice(rng, (None, None, None, "DJF", "DJF", "JJA", "MAM", "SON"))
    per_year = 365 if season is None else 91
    most = min(MAX_DAYS, MAX_VALUES / cells)
    days = _log_uniform(rng, MIN_DAYS, max(most, MIN_DAYS + 1))
    n_years = max(int(round(days / per_year)), -(-MIN_DAYS // per_year))
    first = int(rng.integers(1980, 2000))
    months = SEASONS[season] if season else None

    frequencies = None
    if n_regimes and rng.random() < 0.5:
        f = np.sort(rng.dirichlet(np.full(n_regimes, 3.0)))[::-1]
        f = np.maximum(f, 0.05)
        frequencies = tuple(float(round(v, 3)) for v in f / f.sum())

    eofs = rng.random() < 0.5
    noise = "eofs" if rng.random() < 0.35 else "red"
    carriers = None
    if kind == "surface" and rng.random() < 0.3:
        dynamic = [v for v in keep if v in ("sp", "u10", "v10", "t2m", "sst", "tp")]
        if dynamic:
            n = int(rng.integers(1, min(3, len(dynamic)) + 1))
            carriers = tuple(sorted(rng.choice(dynamic, size=n, replace=False).tolist()))

    knobs = dict(
        kind=kind,
        keep=keep,
        lat=lat,
        lon=lon,
        resolution=res,
        years=(first, first + n_years - 1),
        months=months,
        n_regimes=n_regimes,
        frequencies=frequencies,
        mean_spell=float(round(rng.uniform(2.0, 10.0), 1)),
        seasonal=float(round(rng.uniform(0.3, 0.8), 2))
        if not season and rng.random() < 0.25
        else 0.0,
        patterns="eofs" if eofs else "blobs",
        pattern_scale=float(round(rng.uniform(0.2, 0.5), 2)),
        pattern_offset=int(_choice(rng, (0, 0, 0, 1, 2, 3))) if eofs else 0,
        intensity_spread=float(round(rng.uniform(0.1, 0.4), 2)),
        carriers=carriers,
        signal=round(_log_uniform(rng, 0.6, 2.0), 2),
        noise=noise,
        noise_scale=float(round(_log_uniform(rng, 0.1, 1.0), 2)),
        noise_memory=float(round(rng.uniform(0.3, 0.9), 2)),
        interannual=float(round(rng.uniform(0.2, 0.8), 2)) if rng.random() < 0.4 else 0.0,
        wind_noise=round(_log_uniform(rng, 0.3, 3.0), 2),
        heavy_tails=bool(kind == "surface" and rng.random() < 0.3),
        land=float(round(rng.uniform(0.1, 0.3), 2))
        if kind == "surface" and rng.random() < 0.3
        else 0.0,
        level=int(_choice(rng, (250, 500, 500, 700, 850))),
        layout=_choice(rng, ("era5", "cds")),
        half="choose" if seed % 2 == 0 else "report",
        seed=int(seed),
    )
    return Case(f"gen-{seed:03d}", describe(knobs), **knobs).check()


def describe(k: dict) -> str:
    """A one-line summary of a generated case's knobs."""
    ny = round((k["lat"][1] - k["lat"][0]) / k["resolution"]) + 1
    nx = round((k["lon"][1] - k["lon"][0]) / k["resolution"]) + 1
    years = k["years"][1] - k["years"][0] + 1
    season = next((s for s, m in SEASONS.items() if m == k["months"]), None)
    record = f"{years} {season} seasons" if season else f"{years} years"
    if not k["n_regimes"]:
        regimes = "NO regimes"
    else:
        where = "blobs" if k["patterns"] == "blobs" else f"EOFs {k['pattern_offset'] + 1}+"
        unequal = ", unequal" if k["frequencies"] else ""
        regimes = f"{k['n_regimes']} regimes ({where}{unequal}, spells {k['mean_spell']:.0f} d)"
    noise = (
        f"{k['noise']} noise (scale {k['noise_scale']}, memory {k['noise_memory']})"
        if k["noise"] == "red"
        else f"real-EOF noise (memory {k['noise_memory']})"
    )
    extra = [f"signal/noise {k['signal']}"] if k["n_regimes"] else []
    if k["interannual"]:
        extra.append(f"interannual {k['interannual']}")
    if k["carriers"] and k["n_regimes"]:
        extra.append(f"carried by {'+'.join(k['carriers'])}")
    return (
        f"{k['kind']} {ny}×{nx} at {k['resolution']}°, {record}, {','.join(k['keep'])}; "
        f"{'; '.join([regimes, noise, *extra])}"
    )


def generated_suite(n: int = 48, first: int = 0) -> list[Case]:
    """``n`` randomised cases with generator seeds ``first`` … ``first + n − 1``."""
    return [generated_case(seed) for seed in range(first, first + n)]


def find_case(name: str) -> Case:
    """A named case of the suite, or a generated one by its name ``gen-SEED``."""
    if name in SUITE:
        return SUITE[name]
    seed = name[4:] if name.startswith("gen-") else ""
    if not seed.isdigit():
        raise ConfigError(
            f"unknown case {name!r}: choose a named case or gen-0, gen-1, ... (a generated "
            "case): dsc sample --list-cases"
        )
    return generated_case(int(seed))
