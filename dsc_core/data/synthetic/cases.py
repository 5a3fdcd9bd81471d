"""A family of ERA5-like files with planted regimes, each built from a :class:`Case` of knobs.

Two kinds of file:

- ``surface``: ``sst, t2m, sp, sshf, slhf, u10, v10`` (ERA5 single levels). Surface pressure
  carries the regime patterns; 10 m winds are geostrophic from it (reduced and turned by
  friction) plus their own noise, which can be small-scale and larger in variance than the
  regime signal in the winds (``wind_noise``); t2m adds temperature advection by the wind to an
  SST-following climatology; fluxes follow bulk formulas, optionally with heavy-tailed noise;
  SST is NaN over land.
- ``pressure``: ``z, t, u, v`` on one pressure level (geopotential in m² s⁻²): winds geostrophic
  from z, temperature following the thickness of the z anomaly.

A surface file can also hold daily precipitation ``tp`` (m, zero on most days, heavy-tailed when
it rains: more under low pressure), and ``keep`` chooses which variables are written.

Regimes come from a persistent Markov chain (unequal frequencies, mean spell, seasonal
modulation), with a one-day blend at changes and a random daily intensity. A variable not in
``carriers`` is built from an independent regime-free pressure field, so it holds no regime
signal. ``n_regimes=0`` plants no regimes at all (the file has no ``regime`` coordinate): what
a method finds there is noise. Noise is red in space (``noise_scale``) and time
(``noise_memory``), or has the spatial covariance of real 500 hPa winters (``noise="eofs"``);
``interannual`` adds one pattern per year (per winter on DJF records) that no regime explains.

Files follow ERA5's layouts: latitude descending; ``layout="cds"`` uses the new CDS names
(``valid_time``, ``pressure_level``), "era5" the old ones (``time``, ``level``). The planted
truth is the coordinate ``regime`` on the time dimension. Deterministic for a case's seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core.data.synthetic.fields import (
    blend,
    blob_patterns,
    eof_noise,
    eof_patterns,
    red_noise,
    regime_sequence,
)
from dsc_core.data.synthetic.sample import VARIABLES
from dsc_core.errors import ConfigError

G = 9.80665
OMEGA = 7.292e-5
EARTH_RADIUS = 6.371e6
_RHO, _CP, _LV = 1.2, 1004.0, 2.5e6
_C_H, _C_E = 1.2e-3, 1.3e-3
_DAY_S = 86400.0

SURFACE = ("sst", "t2m", "sp", "sshf", "slhf", "u10", "v10")
SURFACE_EXTRA = ("tp",)  # written only when ``keep`` names it
PRESSURE = ("z", "t", "u", "v")
ATTRS: dict[str, tuple[str, str]] = {
    **VARIABLES,  # the surface variables, as in the built-in sample
    "z": ("Geopotential", "m**2 s**-2"),
    "t": ("Temperature", "K"),
    "u": ("U component of wind", "m s**-1"),
    "v": ("V component of wind", "m s**-1"),
    "tp": ("Total precipitation", "m"),
}


@dataclass(frozen=True)
class Case:
    """The knobs of one synthetic file (module docstring).

    Grid: ``lat``/``lon`` (south, north) / (west, east) in degrees at ``resolution``°. Time:
    ``years`` (first, last) inclusive, ``months`` to keep (e.g. (12, 1, 2): DJF winters, a gap
    between winters; a winter belongs to the year of its January, so (1991, 2002) holds the
    12 winters from December 1990 to February 2002). Regimes: ``n_regimes``, relative
    ``frequencies`` (None: equal),
    ``mean_spell`` days, ``seasonal`` modulation of their frequencies (0..1), ``patterns``
    "blobs" (random Gaussian blobs of e-folding ``pattern_scale`` × the domain's shorter side)
    or "eofs" (±EOFs of real winter Z500, from EOF ``pattern_offset`` + 1 on: with an offset,
    and ``noise="eofs"``, the regimes sit below larger noise modes), ``intensity_spread`` (the
    day-to-day spread of a regime's strength), ``carriers`` (variables holding the signal;
    None: all), ``signal`` (RMS of the regime pattern / RMS of the noise in the pressure
    field). Noise: ``noise`` "red" (Gaussian scale ``noise_scale`` × the shorter side) or
    "eofs", ``noise_memory`` (AR(1) per day), ``interannual`` (RMS of the per-year pattern /
    noise RMS), ``wind_noise`` (RMS of the winds' own noise / RMS of the regime signal in the
    winds; half white, half red at 1.5 cells), ``heavy_tails`` (fluxes get Student-t noise).
    ``land``: share of land cells (surface files). ``keep``: the variables written (None: the
    kind's own; a surface file may add "tp"). ``kind``: "surface" or "pressure" at
    ``level`` hPa. ``layout``: "era5" or "cds". ``half``: "choose" or "report" (the suite's
    split: defaults are chosen on one half, reported on the other).
    """

    name: str
    description: str
    kind: str = "surface"
    lat: tuple[float, float] = (33.0, 43.0)
    lon: tuple[float, float] = (-33.0, -23.0)
    resolution: float = 0.5
    years: tuple[int, int] = (2001, 2002)
    months: tuple[int, ...] | None = None
    n_regimes: int = 4
    frequencies: tuple[float, ...] | None = None
    mean_spell: float = 6.0
    seasonal: float = 0.0
    patterns: str = "blobs"
    pattern_scale: float = 0.35
    pattern_offset: int = 0
    intensity_spread: float = 0.25
    carriers: tuple[str, ...] | None = None
    signal: float = 1.0
    noise: str = "red"
    noise_scale: float = 0.3
    noise_memory: float = 0.5
    interannual: float = 0.0
    wind_noise: float = 0.5
    heavy_tails: bool = False
    land: float = 0.0
    keep: tuple[str, ...] | None = None
    level: int = 500
    layout: str = "era5"
    half: str = "choose"
    seed: int = 0

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables written to the file."""
        if self.keep is not None:
            return self.keep
        return SURFACE if self.kind == "surface" else PRESSURE

    @property
    def has_regimes(self) -> bool:
        return self.n_regimes > 0

    def with_seed(self, seed: int) -> Case:
        """The same case drawn with another seed."""
        return replace(self, seed=seed)

    def check(self) -> Case:
        """Raise ConfigError on an inconsistent setting; return self."""
        if self.kind not in ("surface", "pressure"):
            raise ConfigError(f"case {self.name}: kind must be 'surface' or 'pressure'")
        if self.patterns not in ("blobs", "eofs") or self.noise not in ("red", "eofs"):
            raise ConfigError(f"case {self.name}: patterns/noise must be 'blobs'/'eofs'/'red'")
        if self.layout not in ("era5", "cds"):
            raise ConfigError(f"case {self.name}: layout must be 'era5' or 'cds'")
        if not (self.n_regimes == 0 or 2 <= self.n_regimes <= 8):
            raise ConfigError(f"case {self.name}: n_regimes must be 0 (none) or 2..8")
        own = SURFACE + SURFACE_EXTRA if self.kind == "surface" else PRESSURE
        if self.keep is not None and (not self.keep or set(self.keep) - set(own)):
            raise ConfigError(f"case {self.name}: keep must name some of {', '.join(own)}")
        if self.frequencies is not None and len(self.frequencies) != self.n_regimes:
            raise ConfigError(f"case {self.name}: one frequency per regime")
        unknown = set(self.carriers or ()) - set(self.variables)
        if unknown:
            raise ConfigError(f"case {self.name}: carriers {sorted(unknown)} not in the file")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _grid(case: Case) -> tuple[np.ndarray, np.ndarray]:
    res = case.resolution
    lat = np.round(np.arange(case.lat[0], case.lat[1] + res / 2, res), 4)
    lon = np.round(np.arange(case.lon[0], case.lon[1] + res / 2, res), 4)
    return lat, lon


def _days(case: Case) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The case's dates and a block id per day (a year; a winter when December is kept with
    early-year months: December joins the next January)."""
    winter = case.months is not None and 12 in case.months and 1 in case.months
    first = f"{case.years[0] - 1}-07-01" if winter else f"{case.years[0]}-01-01"
    last = f"{case.years[1]}-06-30" if winter else f"{case.years[1]}-12-31"
    days = pd.date_range(first, last, freq="D")
    if case.months:
        days = days[days.month.isin(case.months)]
    if len(days) < 2:
        raise ConfigError(f"case {case.name}: its years and months hold fewer than 2 days")
    year = days.year.to_numpy() + ((days.month.to_numpy() >= 7) & winter)
    gaps = np.concatenate([[0], np.cumsum(np.diff(days.to_numpy()) != np.timedelta64(1, "D"))])
    return days, np.asarray(year * 1000 + gaps, np.int64)


@dataclass(frozen=True)
class _Frame:
    """Where and when a case lives: its grid, its days, a block id per day (:func:`_days`) and
    each day's annual phase (radians, 0 on 1 January)."""

    lat: np.ndarray
    lon: np.ndarray
    days: pd.DatetimeIndex
    blocks: np.ndarray
    phase: np.ndarray

    @classmethod
    def of(cls, case: Case) -> _Frame:
        lat, lon = _grid(case)
        days, blocks = _days(case)
        year_len = np.where(days.is_leap_year, 366.0, 365.0)
        return cls(lat, lon, days, blocks, 2 * np.pi * (days.dayofyear.to_numpy() - 1) / year_len)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(day, y, x)."""
        return len(self.days), len(self.lat), len(self.lon)

    @property
    def side(self) -> int:
        """Cells along the domain's shorter side."""
        return min(len(self.lat), len(self.lon))

    @property
    def dlat(self) -> np.ndarray:
        """(y, 1): latitude from the domain's middle."""
        return (self.lat - self.lat.mean())[:, None]

    def cycle(self, peak_day: int) -> np.ndarray:
        """(day, 1, 1): an annual cosine peaking on day ``peak_day`` of the year."""
        return np.cos(self.phase - 2 * np.pi * peak_day / 365)[:, None, None]

    def red(self, rng, scale: float, memory: float) -> np.ndarray:
        """Red noise (day, y, x) of Gaussian scale ``scale`` × the shorter side."""
        n, ny, nx = self.shape
        return red_noise(rng, n, (ny, nx), scale * self.side, memory, self.blocks)


@dataclass(frozen=True)
class _Anomalies:
    """The unit-RMS-noise anomalies of the dynamical field (pressure or geopotential) that
    each variable derives from: the regime ``signal`` on ``base`` noise for a carrier, the
    independent regime-free ``free`` noise for any other variable."""

    signal: np.ndarray
    base: np.ndarray
    free: np.ndarray
    carriers: frozenset[str]

    def of(self, var: str) -> np.ndarray:
        return self.base + self.signal if var in self.carriers else self.free


def _geostrophic(
    field: np.ndarray, lat: np.ndarray, res: float, density: float
) -> tuple[np.ndarray, np.ndarray]:
    """Geostrophic wind (u, v) of ``field`` (day, y, x): pressure (density 1.2) or
    geopotential (density 1); the Coriolis parameter is held at |lat| ≥ 15°."""
    dy = np.deg2rad(res) * EARTH_RADIUS
    dx = dy * np.cos(np.deg2rad(lat))[:, None]
    f = 2 * OMEGA * np.sin(np.deg2rad(np.where(np.abs(lat) < 15, np.copysign(15, lat), lat)))
    f = f[:, None]
    ddy = np.gradient(field, axis=1) / dy
    ddx = np.gradient(field, axis=2) / dx
    return -ddy / (density * f), ddx / (density * f)


def _wind_noise(rng, frame: _Frame, scale: float) -> np.ndarray:
    """Half white, half red (1.5 cells, memory 0.3) noise (day, y, x) of RMS ``scale``."""
    n, ny, nx = frame.shape
    red = red_noise(rng, n, (ny, nx), 1.5, 0.3, frame.blocks)
    return np.sqrt(0.5) * (rng.standard_normal(frame.shape) + red) * scale


def _qsat(temp: np.ndarray, pres: np.ndarray) -> np.ndarray:
    es = 611.2 * np.exp(17.67 * (temp - 273.15) / (temp - 29.65))
    return 0.622 * es / (pres - 0.378 * es)


def _land(rng, lat, lon, share: float) -> np.ndarray:
    if share <= 0:
        return np.zeros((len(lat), len(lon)), bool)
    field = red_noise(rng, 1, (len(lat), len(lon)), max(len(lat), len(lon)) / 6, 0.0)[0]
    return field > np.quantile(field, 1.0 - share)


def _planted(case: Case, rng, frame: _Frame) -> tuple[np.ndarray, np.ndarray]:
    """The regime of each day and the regime signal (day, y, x): the regimes' patterns,
    blended over a day at changes, at a random daily intensity (zero without regimes)."""
    n = len(frame.days)
    k = max(case.n_regimes, 1)  # no regimes: one "regime" of zero amplitude
    freqs = np.asarray(case.frequencies or [1.0] * k, np.float64)
    regime = np.zeros(n, np.int64)
    if case.has_regimes:
        regime = regime_sequence(
            rng, frame.phase, frame.blocks, freqs, case.mean_spell, case.seasonal
        )
    if case.patterns == "eofs":
        patterns = eof_patterns(frame.lat, frame.lon, k, case.pattern_offset)
    else:
        patterns = blob_patterns(rng, frame.lat, frame.lon, k, case.pattern_scale)
    weights = blend(np.eye(k)[regime], frame.blocks)
    intensity = 1.0 + case.intensity_spread * rng.standard_normal(n)
    amplitude = case.signal if case.has_regimes else 0.0
    return regime, amplitude * np.einsum("tk,kyx->tyx", weights * intensity[:, None], patterns)


def _noise(case: Case, rng, frame: _Frame) -> np.ndarray:
    """Unit-variance noise of the case's kind: red, or with the covariance of real Z500."""
    if case.noise == "eofs":
        n = len(frame.days)
        return eof_noise(rng, n, frame.lat, frame.lon, case.noise_memory, frame.blocks)
    return frame.red(rng, case.noise_scale, case.noise_memory)


def _anomalies(case: Case, rng, frame: _Frame, signal: np.ndarray) -> _Anomalies:
    """Base and free noise, each with the same per-year pattern at ``case.interannual``."""
    _, ny, nx = frame.shape
    _, year_ids = np.unique(frame.blocks // 1000, return_inverse=True)
    yearly = red_noise(rng, int(year_ids.max()) + 1, (ny, nx), 0.4 * frame.side, 0.0)[year_ids]
    base = _noise(case, rng, frame) + case.interannual * yearly
    free = _noise(case, rng, frame) + case.interannual * yearly
    carriers = frozenset(case.carriers or SURFACE + SURFACE_EXTRA + PRESSURE)
    return _Anomalies(signal, base, free, carriers)


def make_case(case: Case) -> xr.Dataset:
    """The synthetic file of ``case`` as an ``xr.Dataset`` in ERA5 layout (module docstring)."""
    case.check()
    rng = np.random.default_rng(case.seed)
    frame = _Frame.of(case)
    regime, signal = _planted(case, rng, frame)
    anomalies = _anomalies(case, rng, frame, signal)
    if case.kind == "surface":
        land = _land(rng, frame.lat, frame.lon, case.land)
        fields = _surface_fields(case, rng, frame, anomalies)
    else:
        land = np.zeros(frame.shape[1:], bool)
        fields = _pressure_fields(case, rng, frame, anomalies)
    return _to_dataset(case, fields, frame.days, regime, frame.lat, frame.lon, land)


def _surface_fields(case: Case, rng, frame: _Frame, anomalies: _Anomalies) -> dict:
    """sp, u10, v10, sst, t2m, sshf, slhf and tp of a surface file (module docstring)."""
    season = 250.0 * frame.cycle(200)
    sp = {v: 101300.0 - 40.0 * frame.dlat + season + 500.0 * anomalies.of(v) for v in SURFACE}
    winds = {v: _geostrophic(sp[v], frame.lat, case.resolution, _RHO) for v in SURFACE}
    fields = {"sp": sp["sp"], **_surface_winds(case, rng, frame, winds, anomalies.signal)}
    sst_season = -3.0 * frame.cycle(70)
    sst = 292.0 - 0.5 * frame.dlat + sst_season + 0.35 * frame.red(rng, 0.3, 0.95)
    imprint = 0.3 * anomalies.signal.mean(axis=(1, 2), keepdims=True) + 0.2 * anomalies.signal
    fields["sst"] = sst + (imprint if "sst" in anomalies.carriers else 0.0)
    air_sea = 1.0 + 1.0 * frame.cycle(340)
    v_adv = 0.6 * winds["t2m"][1]
    t_noise = frame.red(rng, 0.2, 0.5)
    fields["t2m"] = sst - air_sea + v_adv * 0.6 / 111e3 * 0.4 * _DAY_S + 0.5 * t_noise
    for name in ("sshf", "slhf"):
        own_t2m = name in anomalies.carriers or "t2m" not in anomalies.carriers
        t_air = fields["t2m"] if own_t2m else sst - air_sea
        fields[name] = _bulk_flux(case, rng, name, winds[name], sst, t_air, sp[name])
    low = -anomalies.of("tp") + 0.8 * frame.red(rng, 0.1, 0.3)
    fields["tp"] = 0.004 * np.clip(low - 0.6, 0.0, None) ** 1.5  # zero on most days
    return fields


def _surface_winds(case: Case, rng, frame: _Frame, winds: dict, signal: np.ndarray) -> dict:
    """u10, v10: the geostrophic winds reduced to 60 % and turned 15° towards low pressure,
    plus their own noise at ``case.wind_noise`` × the RMS of the regime signal in the winds."""
    regime_wind = _geostrophic(500.0 * signal, frame.lat, case.resolution, _RHO)
    wind_rms = 0.6 * float(np.sqrt(np.mean(regime_wind[0] ** 2 + regime_wind[1] ** 2) / 2))
    turn = np.deg2rad(15.0)
    fields = {}
    for name, comp in (("u10", 0), ("v10", 1)):
        ug, vg = winds[name]
        rot = ug * np.cos(turn) - vg * np.sin(turn), ug * np.sin(turn) + vg * np.cos(turn)
        own = _wind_noise(rng, frame, case.wind_noise * max(wind_rms, 0.5))
        fields[name] = 0.6 * rot[comp] + (1.0 if comp == 0 else 0.0) + own
    return fields


def _bulk_flux(case: Case, rng, name: str, wind, sst, t_air, pres) -> np.ndarray:
    """Daily sensible (``sshf``) or latent (``slhf``) heat flux by the bulk formula, downward
    positive, with Student-t noise when the case has heavy tails."""
    u, v = wind
    speed = np.sqrt((0.6 * u) ** 2 + (0.6 * v) ** 2 + 1.0)
    if name == "sshf":
        flux = -_RHO * _CP * _C_H * speed * (sst - t_air) * _DAY_S
    else:
        dq = 0.98 * _qsat(sst, pres) - 0.78 * _qsat(t_air, pres)
        flux = -_RHO * _LV * _C_E * speed * dq * _DAY_S
    if case.heavy_tails:
        flux = flux + 0.3 * flux.std() * rng.standard_t(2.5, size=flux.shape)
    return flux


def _pressure_fields(case: Case, rng, frame: _Frame, anomalies: _Anomalies) -> dict:
    """z, u, v and t on the case's pressure level (module docstring)."""
    z_scale = G * 90.0 * (500.0 / case.level) ** 0.3
    z_clim = G * (5600.0 - 9.0 * frame.dlat) * (case.level / 500.0) ** -0.15
    season = 0.3 * z_scale * frame.cycle(200)
    z = {v: z_clim + season + z_scale * anomalies.of(v) for v in PRESSURE}
    fields = {"z": z["z"]}
    regime_wind = _geostrophic(z_scale * anomalies.signal, frame.lat, case.resolution, 1.0)
    for name, comp in (("u", 0), ("v", 1)):
        wind = _geostrophic(z[name], frame.lat, case.resolution, 1.0)[comp]
        rms = max(float(np.sqrt(np.mean(regime_wind[comp] ** 2))), 0.5)
        fields[name] = wind + _wind_noise(rng, frame, case.wind_noise * rms)
    thickness = (z["t"] - z_clim) / G * 0.02
    t_noise = frame.red(rng, 0.25, 0.6)
    fields["t"] = 253.0 - 0.7 * frame.dlat + 4.0 * frame.cycle(200) + thickness + 1.5 * t_noise
    return fields


def _to_dataset(case: Case, fields, days, regime, lat, lon, land) -> xr.Dataset:
    """ERA5-style Dataset: descending latitude, the case's time / level names, truth coord."""
    tname = "valid_time" if case.layout == "cds" else "time"
    lname = "pressure_level" if case.layout == "cds" else "level"
    dims: tuple[str, ...] = (tname, "latitude", "longitude")
    data_vars = {}
    for name in case.variables:
        values = fields[name][:, ::-1].astype(np.float32)
        if name == "sst":
            values[:, land[::-1]] = np.nan
        long_name, units = ATTRS[name]
        attrs = {"units": units, "long_name": long_name}
        if case.kind == "pressure":
            data_vars[name] = ((tname, lname, "latitude", "longitude"), values[:, None], attrs)
        else:
            data_vars[name] = (dims, values, attrs)
    coords = {
        tname: (tname, days.values.astype("datetime64[ns]")),
        "latitude": ("latitude", lat[::-1], {"units": "degrees_north"}),
        "longitude": ("longitude", lon, {"units": "degrees_east"}),
    }
    if case.has_regimes:
        coords["regime"] = (tname, regime, {"long_name": "planted regime (synthetic truth)"})
    if case.kind == "pressure":
        coords[lname] = (lname, [float(case.level)], {"units": "hPa"})
    attrs = {
        "title": f"SYNTHETIC ERA5-like case {case.name} (not real data)",
        "source": "dsc_core.data.synthetic",
        "synthetic": 1,
        "case": case.name,
        "n_regimes": case.n_regimes,
        "seed": case.seed,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
