"""The validation suite: named synthetic cases that span what real regime studies meet.

Every default of the engine is chosen on the ``choose`` half and reported on the ``report``
half (``benchmarks/suite.py``); the halves pair cases of the same sort (surface files with noisy
winds, 500 hPa DJF sectors, one or two carrier variables, heavy tails and land, spell lengths,
noise scales, seasonal and interannual signals, grid sizes) so that neither half is easier.
"""

from __future__ import annotations

from dsc_core.data.synthetic.cases import Case

EURO_ATLANTIC = {"lat": (20.0, 80.0), "lon": (-90.0, 40.0)}
DJF = (12, 1, 2)

_CASES = [
    # --- the half that chooses the defaults ------------------------------------------------
    Case(
        "surface-noisy-winds",
        "21×21 surface box, 2 years, 4 regimes; winds' own noise twice their regime signal",
        resolution=0.5,
        wind_noise=2.0,
    ),
    Case(
        "z500-djf-eofs",
        "500 hPa Euro-Atlantic sector at 2.5°, 12 DJF winters, ±EOF regimes, real-EOF noise",
        kind="pressure",
        **EURO_ATLANTIC,
        resolution=2.5,
        years=(1991, 2002),
        months=DJF,
        patterns="eofs",
        noise="eofs",
        signal=1.6,
        wind_noise=1.5,
        layout="cds",
    ),
    Case(
        "sp-only",
        "41×41 surface box at 0.25°, 2 years, 5 regimes carried by surface pressure alone",
        resolution=0.25,
        n_regimes=5,
        carriers=("sp",),
        signal=2.0,
        seed=3,
    ),
    Case(
        "fluxes-heavy-unequal",
        "31×31 surface box, 3 regimes at 50/30/20 %, Student-t noise on the fluxes",
        lat=(30.0, 45.0),
        lon=(-40.0, -25.0),
        n_regimes=3,
        frequencies=(0.5, 0.3, 0.2),
        heavy_tails=True,
        seed=4,
    ),
    Case(
        "short-spells",
        "25×25 surface box, 3 years, 4 regimes with 2-day mean spells",
        lat=(35.0, 47.0),
        lon=(-20.0, -8.0),
        years=(2001, 2003),
        mean_spell=2.0,
        seed=5,
    ),
    Case(
        "z850-small-scale-noise",
        "850 hPa at 2°, 3 years; noise at a fifth of the patterns' scale",
        kind="pressure",
        lat=(30.0, 80.0),
        lon=(-40.0, 20.0),
        resolution=2.0,
        level=850,
        years=(2001, 2003),
        noise_scale=0.07,
        signal=0.8,
        seed=6,
    ),
    Case(
        "seasonal-regimes",
        "21×31 surface box, 3 years, 5 regimes whose frequencies follow the season",
        lat=(35.0, 45.0),
        lon=(-30.0, -15.0),
        years=(2001, 2003),
        n_regimes=5,
        seasonal=0.8,
        mean_spell=5.0,
        seed=7,
    ),
    Case(
        "z500-large-grid",
        "64×128 cells at 1° (20–83°N, 100°W–27°E), 500 hPa, 5 DJF winters, ±EOF regimes",
        kind="pressure",
        lat=(20.0, 83.0),
        lon=(-100.0, 27.0),
        resolution=1.0,
        years=(2001, 2005),
        months=DJF,
        patterns="eofs",
        seed=8,
    ),
    Case(
        "weak-matched-noise",
        "33×33 surface box at 0.25°, 2 years; weak regimes, noise at the patterns' scale",
        lat=(36.0, 44.0),
        lon=(-30.0, -22.0),
        resolution=0.25,
        noise_scale=0.35,
        signal=0.7,
        seed=9,
    ),
    # --- the half that reports ------------------------------------------------------------
    Case(
        "surface-red-winds",
        "41×41 surface box at 0.25°, 2 years, 4 regimes; winds' own noise 3× their signal",
        resolution=0.25,
        wind_noise=3.0,
        layout="cds",
        half="report",
        seed=10,
    ),
    Case(
        "z500-djf-interannual",
        "500 hPa at 1.25° (30–70°N, 60°W–20°E), 10 DJF winters, 5 unequal regimes, "
        "a per-winter anomaly",
        kind="pressure",
        lat=(30.0, 70.0),
        lon=(-60.0, 20.0),
        resolution=1.25,
        years=(1991, 2000),
        months=DJF,
        n_regimes=5,
        frequencies=(0.3, 0.25, 0.2, 0.15, 0.1),
        interannual=0.6,
        wind_noise=1.5,
        layout="cds",
        half="report",
        seed=11,
    ),
    Case(
        "sst-t2m-only",
        "21×21 surface box, 2 years, 4 regimes carried by sst and t2m alone",
        resolution=0.5,
        carriers=("sst", "t2m"),
        signal=2.0,
        half="report",
        seed=12,
    ),
    Case(
        "land-heavy-two",
        "35×35 surface box at 0.25° with 30 % land, 2 regimes at 70/30 %, heavy-tailed fluxes",
        lat=(36.0, 44.5),
        lon=(-10.0, -1.5),
        resolution=0.25,
        n_regimes=2,
        frequencies=(0.7, 0.3),
        heavy_tails=True,
        land=0.3,
        half="report",
        seed=13,
    ),
    Case(
        "long-spells",
        "21×21 surface box, 3 years, 6 regimes with 10-day mean spells",
        years=(2001, 2003),
        n_regimes=6,
        mean_spell=10.0,
        half="report",
        seed=14,
    ),
    Case(
        "z500-large-scale-noise",
        "500 hPa at 2.5°, 4 years; noise at twice the patterns' scale",
        kind="pressure",
        lat=(25.0, 82.5),
        lon=(-60.0, 37.5),
        resolution=2.5,
        years=(2001, 2004),
        noise_scale=0.9,
        signal=0.8,
        half="report",
        seed=15,
    ),
    Case(
        "interannual",
        "21×25 surface box, 4 years, 4 regimes and a per-year anomaly 0.7× the noise",
        lat=(33.0, 43.0),
        lon=(-35.0, -23.0),
        years=(2001, 2004),
        interannual=0.7,
        half="report",
        seed=16,
    ),
    Case(
        "z850-small-grid-8",
        "16×16 cells at 2.5°, 850 hPa, 4 years, 8 unequal regimes from real EOFs",
        kind="pressure",
        lat=(35.0, 72.5),
        lon=(-30.0, 7.5),
        resolution=2.5,
        level=850,
        years=(2001, 2004),
        n_regimes=8,
        frequencies=(0.2, 0.17, 0.15, 0.13, 0.11, 0.09, 0.08, 0.07),
        patterns="eofs",
        half="report",
        seed=17,
    ),
    Case(
        "surface-4y-eofs",
        "41×41 surface box at 0.25°, 4 years (1461 days), ±EOF regimes, real-EOF noise",
        resolution=0.25,
        years=(2001, 2004),
        patterns="eofs",
        noise="eofs",
        signal=1.6,
        half="report",
        seed=18,
    ),
]

SUITE: dict[str, Case] = {case.name: case.check() for case in _CASES}
"""The named cases, in order; ``case.half`` is "choose" or "report"."""


def half(name: str) -> list[Case]:
    """The cases of the "choose" or "report" half."""
    return [c for c in SUITE.values() if c.half == name]
