"""The built-in synthetic ERA5-like sample with planted, persistent weather regimes.

The grid is the paper's: daily, 33–43°N × 33–23°W at 0.25° (41 × 41), seven variables with
ERA5 short names, units and long names. The fields are built from simple physics, not copied
from any real data:

- surface pressure ``sp``: a seasonal climatology with an Azores high, plus one of ``n_regimes``
  large-scale anomaly patterns (several hPa) chosen by a persistent Markov chain (mean spell
  ≈ 6.5 days, uniform stationary frequencies, independent of the season), with a one-day
  blend at regime changes, a random daily intensity, and red (spatially smooth, autocorrelated)
  noise;
- winds ``u10``/``v10``: geostrophic from ``sp`` (u = −∂p/∂y / (ρf), v = ∂p/∂x / (ρf)), reduced
  to 60 % and turned 15° towards low pressure as surface friction does, plus noise;
- ``sst``: a seasonal cycle lagging the air's by about a month, colder to the north, plus a slow
  anomaly; NaN over the land cells (a few Azores-like islands);
- ``t2m``: the SST minus a seasonal air–sea difference, plus temperature advection by the wind
  across the climatological meridional gradient, plus noise (defined over land too);
- ``sshf``/``slhf``: bulk formulas (downward positive, as in ERA5, so ocean heat loss is
  negative), accumulated over one hour (J m⁻²) like the hourly ERA5 values the paper took one
  per day; that is what the paper's value ranges (e.g. sshf −674 528 … 200 024) correspond to.

Every value is finally clipped to the ranges the paper reports, a guard that touches only
rare extremes. Deterministic for a given seed (numpy ``Generator``); no files, no network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter
from scipy.signal import lfilter

from dsc_core.errors import ConfigError

LAT = np.linspace(33.0, 43.0, 41)
LON = np.linspace(-33.0, -23.0, 41)
_LAT2, _LON2 = np.meshgrid(LAT, LON, indexing="ij")  # (y, x)
_DLAT = _LAT2 - 38.0

VARIABLES: dict[str, tuple[str, str]] = {
    "sst": ("Sea surface temperature", "K"),
    "t2m": ("2 metre temperature", "K"),
    "sp": ("Surface pressure", "Pa"),
    "sshf": ("Surface sensible heat flux", "J m**-2"),
    "slhf": ("Surface latent heat flux", "J m**-2"),
    "u10": ("10 metre U wind component", "m s**-1"),
    "v10": ("10 metre V wind component", "m s**-1"),
}

#: Value ranges the paper reports for its ERA5 box (SPEC table); the sample stays inside them.
RANGES: dict[str, tuple[float, float]] = {
    "sst": (285.0, 300.0),
    "t2m": (281.0, 299.0),
    "sp": (98260.0, 103788.0),
    "sshf": (-674528.0, 200024.0),
    "slhf": (-1840906.0, 90131.0),
    "u10": (-16.0, 19.0),
    "v10": (-15.0, 16.0),
}

#: Regime sp-anomaly patterns: lists of (amplitude Pa, centre lat, centre lon, e-folding °).
#: The first ``n_regimes`` are used.
_PATTERNS: list[tuple[str, list[tuple[float, float, float, float]]]] = [
    ("Azores high strong", [(900.0, 38.0, -28.5, 5.5)]),
    ("Azores high weak, low to the north", [(-1000.0, 43.5, -28.0, 6.0)]),
    ("ridge north-east, low south-west", [(800.0, 42.5, -23.5, 5.0), (-800.0, 33.5, -32.5, 5.0)]),
    ("ridge north-west, low south-east", [(800.0, 42.5, -32.5, 5.0), (-800.0, 33.5, -23.5, 5.0)]),
    ("cut-off low south-west", [(-900.0, 34.0, -32.0, 5.0)]),
    ("high to the north-west", [(900.0, 42.0, -32.0, 5.5)]),
    ("meridional dipole", [(700.0, 42.5, -28.0, 5.0), (-700.0, 33.5, -28.0, 5.0)]),
    ("zonal dipole", [(-700.0, 38.0, -32.5, 5.0), (700.0, 38.0, -23.5, 5.0)]),
]

#: Azores-like islands: (centre lat, centre lon, half-axis lat °, half-axis lon °).
_ISLANDS = [
    (39.45, -31.2, 0.15, 0.15),  # Flores
    (38.55, -28.7, 0.15, 0.2),  # Faial
    (38.45, -28.2, 0.15, 0.35),  # Pico
    (38.7, -27.2, 0.15, 0.25),  # Terceira
    (37.8, -25.5, 0.15, 0.45),  # Sao Miguel
]

_MEAN_SPELL = 6.5  # days
_RHO, _CP, _LV = 1.2, 1004.0, 2.5e6  # air density, heat capacity, latent heat of vaporisation
_C_H, _C_E = 1.2e-3, 1.3e-3  # bulk transfer coefficients
_ACCUMULATION_S = 3600.0  # ERA5 hourly accumulation period


def regime_names(n_regimes: int) -> list[str]:
    """Descriptions of the planted regimes 0..n_regimes-1."""
    return [name for name, _ in _PATTERNS[:n_regimes]]


def land_mask() -> np.ndarray:
    """bool (latitude, longitude) on the sample grid: True over the island cells."""
    land = np.zeros(_LAT2.shape, bool)
    for clat, clon, hlat, hlon in _ISLANDS:
        land |= ((_LAT2 - clat) / hlat) ** 2 + ((_LON2 - clon) / hlon) ** 2 <= 1.0
    return land


def _red_noise(
    rng: np.random.Generator, n_days: int, sigma: float, phi: float, n: int = 41
) -> np.ndarray:
    """Unit-variance noise (day, y, x), Gaussian-smoothed over sigma cells, AR(1) phi in time.

    Large scales are drawn on a coarser grid and interpolated (cubic spline), which keeps it
    fast.
    """
    factor = max(1, int(sigma // 3))
    m = n if factor == 1 else (n - 1) // factor + 2
    csigma = sigma / factor
    pad = int(2 * csigma) + 1
    white = rng.standard_normal((n_days, m + 2 * pad, m + 2 * pad))
    field = gaussian_filter(white, sigma=(0, csigma, csigma), mode="wrap")[:, pad:-pad, pad:-pad]
    if factor > 1:
        interp = CubicSpline(np.arange(m) * factor, np.eye(m))(np.arange(n))  # (n, m)
        field = np.einsum("ya,tab,xb->tyx", interp, field, interp, optimize=True)
    field /= field.std()
    field[1:] *= np.sqrt(1.0 - phi**2)
    return lfilter([1.0], [1.0, -phi], field, axis=0)


def _markov_regimes(rng: np.random.Generator, n_days: int, n_regimes: int) -> np.ndarray:
    """int64 (day,): a persistent Markov chain with uniform stationary distribution."""
    stay = 1.0 - 1.0 / _MEAN_SPELL
    regime = np.empty(n_days, np.int64)
    regime[0] = rng.integers(n_regimes)
    switches = rng.random(n_days) > stay
    jumps = rng.integers(1, n_regimes, n_days)
    for t in range(1, n_days):
        regime[t] = (regime[t - 1] + jumps[t]) % n_regimes if switches[t] else regime[t - 1]
    return regime


def _qsat(temp: np.ndarray, pres: np.ndarray) -> np.ndarray:
    """Saturation specific humidity (kg/kg) at temperature (K) and pressure (Pa), Bolton 1980."""
    es = 611.2 * np.exp(17.67 * (temp - 273.15) / (temp - 29.65))
    return 0.622 * es / (pres - 0.378 * es)


def sample(
    start: str = "2021-01-01", end: str = "2021-12-31", n_regimes: int = 4, seed: int = 0
) -> xr.Dataset:
    """Synthetic ERA5-like daily dataset with planted regimes (see the module docstring).

    Returns dims (time, latitude, longitude): float32 ``sst, t2m, sp, sshf, slhf, u10, v10``,
    bool ``mask`` (latitude, longitude; True = sea, valid for every variable), int64 coordinate
    ``regime`` on time (the planted truth, 0..n_regimes-1), attrs ``synthetic=1``,
    ``n_regimes``, ``title``, ``source``.
    """
    if not 2 <= int(n_regimes) <= len(_PATTERNS):
        raise ConfigError(f"n_regimes must be 2..{len(_PATTERNS)}, got {n_regimes}")
    time = _sample_days(start, end)
    rng = np.random.default_rng(seed)
    n_regimes = int(n_regimes)
    # annual phase; 0 on 1 January, fractional year so that leap years are handled
    year_len = np.where(time.is_leap_year, 366.0, 365.0)
    phase = (2 * np.pi * (time.dayofyear.to_numpy() - 1) / year_len)[:, None, None]

    regime, sp = _surface_pressure(rng, phase, n_regimes)
    u10, v10 = _winds(rng, sp)
    sst = _sst(rng, phase)
    land = land_mask()
    t2m = _t2m(rng, phase, sst, v10, land)
    sshf, slhf = _heat_fluxes(rng, sst, t2m, sp, np.sqrt(u10**2 + v10**2 + 1.0), land)
    fields = {"sst": sst, "t2m": t2m, "sp": sp, "sshf": sshf, "slhf": slhf, "u10": u10, "v10": v10}
    return _to_dataset(fields, land, time, regime, n_regimes, int(seed))


def _sample_days(start: str, end: str) -> pd.DatetimeIndex:
    """The sample's days, ``start`` to ``end`` inclusive; ConfigError on bad dates."""
    try:
        time = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    except (ValueError, TypeError) as err:
        raise ConfigError(f"bad sample dates {start!r}..{end!r}: use YYYY-MM-DD ({err})") from None
    if len(time) < 1:
        raise ConfigError(f"sample end {end} is before start {start}: give end >= start")
    return time


def _surface_pressure(
    rng: np.random.Generator, phase: np.ndarray, n_regimes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The planted regime of each day and ``sp``: climatology + regimes + red noise."""
    n_days = len(phase)
    azores = np.exp(-((_LAT2 - 35.5) ** 2 + (_LON2 + 27.0) ** 2) / (2 * 7.0**2))
    sp_clim = 101450.0 + 650.0 * azores - 35.0 * _DLAT
    sp_clim = sp_clim + (250.0 + 300.0 * azores) * np.cos(phase - 2 * np.pi * 200 / 365)
    patterns = np.zeros((n_regimes, 41, 41))
    for k, (_, blobs) in enumerate(_PATTERNS[:n_regimes]):
        for amp, clat, clon, scale in blobs:
            patterns[k] += amp * np.exp(-((_LAT2 - clat) ** 2 + (_LON2 - clon) ** 2) / scale**2)
    regime = _markov_regimes(rng, n_days, n_regimes)
    weights = np.eye(n_regimes)[regime]
    weights = lfilter([0.6], [1.0, -0.4], weights, axis=0)  # one-day blend at regime changes
    weights[0] = np.eye(n_regimes)[regime[0]]
    intensity = 1.0 + 0.25 * rng.standard_normal(n_days)
    sp_regime = np.einsum("tk,kyx->tyx", weights * intensity[:, None], patterns)
    sp_noise = 220.0 * _red_noise(rng, n_days, sigma=24.0, phi=0.5)
    return regime, sp_clim + sp_regime + sp_noise


def _winds(rng: np.random.Generator, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u10``, ``v10``: the surface geostrophic wind of ``sp`` under friction, plus noise."""
    n_days = len(sp)
    dy = np.deg2rad(0.25) * 6.371e6
    dx = dy * np.cos(np.deg2rad(_LAT2))
    f = 2 * 7.292e-5 * np.sin(np.deg2rad(_LAT2))
    dpdy = np.gradient(sp, axis=1) / dy
    dpdx = np.gradient(sp, axis=2) / dx
    ug, vg = -dpdy / (_RHO * f), dpdx / (_RHO * f)
    turn = np.deg2rad(15.0)  # friction turns the wind towards low pressure (left of ug, vg)
    u10 = 0.6 * (ug * np.cos(turn) - vg * np.sin(turn))
    v10 = 0.6 * (ug * np.sin(turn) + vg * np.cos(turn))
    u10 += 1.0 + 1.2 * _red_noise(rng, n_days, sigma=4.0, phi=0.3)
    v10 += 1.2 * _red_noise(rng, n_days, sigma=4.0, phi=0.3)
    return u10, v10


def _sst(rng: np.random.Generator, phase: np.ndarray) -> np.ndarray:
    """SST: seasonal cycle (min mid-March, max early September) + slow anomaly."""
    sst_season = -3.4 * np.cos(phase - 2 * np.pi * 70 / 365)
    return (
        292.0 - 0.55 * _DLAT + sst_season + 0.35 * _red_noise(rng, len(phase), sigma=6.0, phi=0.95)
    )


def _t2m(rng, phase, sst, v10, land) -> np.ndarray:
    """t2m: coupled to SST, advection across the meridional gradient, noise; over land a
    seasonal offset."""
    # air colder than the sea most in early winter, least in early summer: t2m leads sst
    air_sea = 1.0 + 1.2 * np.cos(phase - 2 * np.pi * 340 / 365)
    dtdy = -0.6 / 111e3  # K/m, climatological meridional gradient of air temperature
    advection = -v10 * dtdy * 0.4 * 86400.0  # 0.4 day of advection
    t2m = sst - air_sea + advection + 0.45 * _red_noise(rng, len(phase), sigma=5.0, phi=0.5)
    return np.where(land, t2m + 0.5 * np.cos(phase - 2 * np.pi * 200 / 365), t2m)


def _heat_fluxes(rng, sst, t2m, sp, speed, land) -> tuple[np.ndarray, np.ndarray]:
    """``sshf``, ``slhf``: bulk heat fluxes at wind ``speed`` (downward positive), one hour's
    accumulation in J m**-2; wetter over the sea than over land."""
    surface_t = np.where(land, t2m + 0.3, sst)
    sshf = -_RHO * _CP * _C_H * speed * (surface_t - t2m) * _ACCUMULATION_S
    rel_hum = np.clip(0.78 + 0.05 * _red_noise(rng, len(sst), sigma=5.0, phi=0.5), 0.5, 0.98)
    wetness = np.where(land, 0.3, 1.0)
    dq = 0.98 * _qsat(surface_t, sp) - rel_hum * _qsat(t2m, sp)
    slhf = -_RHO * _LV * _C_E * speed * wetness * dq * _ACCUMULATION_S
    return sshf, slhf


def _to_dataset(fields: dict, land, time, regime, n_regimes: int, seed: int) -> xr.Dataset:
    """The sample Dataset: each field clipped to :data:`RANGES` as float32 (SST NaN over
    land), the sea ``mask``, the planted ``regime`` coordinate and the attributes."""
    data_vars = {}
    for name, values in fields.items():
        lo, hi = RANGES[name]
        values = np.clip(values, lo, hi).astype(np.float32)
        if name == "sst":
            values[:, land] = np.nan
        long_name, units = VARIABLES[name]
        data_vars[name] = (
            ("time", "latitude", "longitude"),
            values,
            {"units": units, "long_name": long_name},
        )
    data_vars["mask"] = (
        ("latitude", "longitude"),
        ~land,
        {"long_name": "valid cells (sea): True where every variable is valid"},
    )
    coords = {
        "time": ("time", time.values.astype("datetime64[ns]")),
        "latitude": ("latitude", LAT, {"units": "degrees_north", "long_name": "latitude"}),
        "longitude": ("longitude", LON, {"units": "degrees_east", "long_name": "longitude"}),
        "regime": ("time", regime, {"long_name": "planted regime (synthetic truth)"}),
    }
    attrs = {
        "title": "SYNTHETIC ERA5-like sample (not real data)",
        "source": "dsc_core.sample",
        "synthetic": 1,
        "n_regimes": n_regimes,
        "seed": seed,
        "regime_names": "; ".join(f"{k}: {n}" for k, n in enumerate(regime_names(n_regimes))),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
