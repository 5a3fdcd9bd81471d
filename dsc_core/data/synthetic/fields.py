"""Building blocks of the synthetic cases: red noise, regime sequences, patterns from real data.

Shapes: fields are ``(day, y, x)`` float64 on an ascending latitude × longitude grid; regime
sequences are ``(day,)`` int64; patterns are ``(regime, y, x)`` with unit RMS over the grid.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.signal import lfilter

EOF_FILE = "hgt_djf.nc"
"""Winter (DJF) means of 500 hPa geopotential height, 1948–2012, 20–90°N × 80°W–40°E at 2.5°
(NCEP/NCAR reanalysis), shipped with the ``eofs`` package as its example data."""


def red_noise(
    rng: np.random.Generator,
    n_days: int,
    shape: tuple[int, int],
    scale: float,
    memory: float,
    blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Unit-variance noise ``(day, y, x)``: white noise smoothed by a Gaussian of ``scale``
    cells (0: white), AR(1) with coefficient ``memory`` from day to day.

    The smoothing is spectral, on a grid twice the size that is then cropped (no wrap-around
    correlation). ``blocks`` ``(day,)`` restarts the AR(1) at each change of block (days that
    are not consecutive, e.g. separate winters).
    """
    ny, nx = shape
    white = rng.standard_normal((n_days, 2 * ny, 2 * nx))
    if scale > 0:
        ky = np.fft.fftfreq(2 * ny)[:, None]
        kx = np.fft.rfftfreq(2 * nx)[None, :]
        gain = np.exp(-2.0 * (np.pi * scale) ** 2 * (ky**2 + kx**2))
        white = np.fft.irfft2(np.fft.rfft2(white) * gain, s=(2 * ny, 2 * nx))
    field = white[:, :ny, :nx]
    field /= field.std()
    return ar1(field, memory, blocks)


def ar1(field: np.ndarray, memory: float, blocks: np.ndarray | None = None) -> np.ndarray:
    """AR(1) in time over ``field`` ``(day, ...)`` of unit-variance innovations, keeping unit
    variance; restarted at every change of ``blocks`` ``(day,)``."""
    if memory == 0:
        return field
    out = np.empty_like(field)
    for days in _block_slices(len(field), blocks):
        innov = field[days].copy()
        innov[1:] *= np.sqrt(1.0 - memory**2)
        out[days] = lfilter([1.0], [1.0, -memory], innov, axis=0)
    return out


def _block_slices(n_days: int, blocks: np.ndarray | None) -> list[slice]:
    if blocks is None:
        return [slice(0, n_days)]
    edges = np.flatnonzero(np.diff(blocks)) + 1
    bounds = [0, *edges.tolist(), n_days]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def regime_sequence(
    rng: np.random.Generator,
    phase: np.ndarray,
    blocks: np.ndarray,
    frequencies: np.ndarray,
    mean_spell: float,
    modulation: float,
) -> np.ndarray:
    """A persistent regime chain ``(day,)`` with long-run shares near ``frequencies``.

    Regime k lasts on average ``mean_spell`` · K · f_k days (f normalised; at least 1.2), so
    frequent regimes persist longer, as observed ones do; the next regime is drawn with
    weights f × (1 + ``modulation`` · cos(``phase`` − 2πk/K)) (``phase``: each day's annual
    phase), the current one excluded. Each block (winter, record) starts afresh.
    """
    k = len(frequencies)
    f = np.asarray(frequencies, np.float64) / np.sum(frequencies)
    leave = 1.0 / np.maximum(mean_spell * k * f, 1.2)
    offsets = 2 * np.pi * np.arange(k) / k
    stay_draws = rng.random(len(phase))
    draws = rng.random(len(phase))
    out = np.empty(len(phase), np.int64)
    for t in range(len(phase)):
        fresh = t == 0 or blocks[t] != blocks[t - 1]
        if not fresh and stay_draws[t] >= leave[out[t - 1]]:
            out[t] = out[t - 1]
            continue
        w = f * (1.0 + modulation * np.cos(phase[t] - offsets))
        if not fresh:
            w[out[t - 1]] = 0.0
        out[t] = int(np.searchsorted(np.cumsum(w) / w.sum(), draws[t], side="right"))
    return np.minimum(out, k - 1)


def blend(weights: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """One-day blend of one-hot regime weights ``(day, K)`` at regime changes, per block."""
    out = weights.astype(np.float64)
    for days in _block_slices(len(weights), blocks):
        part = lfilter([0.6], [1.0, -0.4], weights[days], axis=0)
        part[0] = weights[days][0]
        out[days] = part
    return out


def unit_rms(patterns: np.ndarray) -> np.ndarray:
    """``(n, y, x)`` each scaled to unit root-mean-square."""
    rms = np.sqrt((patterns**2).mean(axis=(1, 2), keepdims=True))
    return patterns / np.where(rms > 0, rms, 1.0)


def blob_patterns(
    rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, n: int, scale: float
) -> np.ndarray:
    """``n`` distinct patterns ``(n, y, x)`` of one or two Gaussian blobs (e-folding ``scale``
    × the shorter side of the domain), pairwise correlations below 0.6 where possible."""
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    size = min(np.ptp(lat), np.ptp(lon)) * scale
    chosen: list[np.ndarray] = []
    for _ in range(60 * n):
        if len(chosen) == n:
            break
        p = np.zeros(lat2.shape)
        for i in range(int(rng.integers(1, 3))):
            clat = rng.uniform(lat.min(), lat.max())
            clon = rng.uniform(lon.min(), lon.max())
            sign = rng.choice([-1.0, 1.0]) if i == 0 else -np.sign(p.sum() or 1.0)
            p += sign * np.exp(-((lat2 - clat) ** 2 + (lon2 - clon) ** 2) / size**2)
        p = unit_rms(p[None])[0]
        if all(abs(np.corrcoef(p.ravel(), q.ravel())[0, 1]) < 0.6 for q in chosen):
            chosen.append(p)
    while len(chosen) < n:  # a tiny domain: accept what the draws give
        chosen.append(-chosen[len(chosen) % max(len(chosen), 1)])
    return np.stack(chosen)


@functools.lru_cache(maxsize=1)
def _reanalysis_eofs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, EOFs (mode, y, x) in m, variances (mode,)) of the eofs example Z500 winters,
    area-weighted by √cos(latitude); latitude ascending."""
    import xarray as xr
    from eofs.examples import example_data_path

    with xr.open_dataset(example_data_path(EOF_FILE), decode_times=False) as ds:
        z = ds["z"].squeeze(drop=True).sortby("latitude").load()
    lat = z["latitude"].values.astype(np.float64)
    lon = z["longitude"].values.astype(np.float64)
    anom = z.values - z.values.mean(axis=0)
    w = np.sqrt(np.clip(np.cos(np.deg2rad(lat)), 0.0, None))[:, None]
    _, s, vt = np.linalg.svd((anom * w).reshape(len(anom), -1), full_matrices=False)
    eofs = vt.reshape(-1, len(lat), len(lon)) / np.where(w > 0.05, w, 0.05)
    return lat, lon, eofs, s**2 / (len(anom) - 1)


def _onto(grid_lat: np.ndarray, grid_lon: np.ndarray, values: np.ndarray, lat, lon) -> np.ndarray:
    """Interpolate ``values`` (n, y, x) on (grid_lat, grid_lon) to (lat, lon); a domain outside
    the source grid is mapped onto it linearly (the patterns keep their shape)."""

    def fit(target: np.ndarray, source: np.ndarray) -> np.ndarray:
        if target.min() >= source.min() and target.max() <= source.max():
            return target
        t = (target - target.min()) / max(np.ptp(target), 1e-9)
        return source.min() + t * np.ptp(source)

    pts = np.stack(np.meshgrid(fit(lat, grid_lat), fit(lon, grid_lon), indexing="ij"), -1)
    return np.stack([RegularGridInterpolator((grid_lat, grid_lon), v)(pts) for v in values], axis=0)


def eof_patterns(lat: np.ndarray, lon: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """``n`` regime patterns ``(n, y, x)`` from the EOFs of real winter Z500 after the first
    ``offset``: +EOF(offset+1), −EOF(offset+1), +EOF(offset+2), ... each interpolated to the
    grid, unit RMS."""
    src_lat, src_lon, eofs, _ = _reanalysis_eofs()
    modes = _onto(src_lat, src_lon, eofs[offset : offset + (n + 1) // 2], lat, lon)
    signed = [sign * modes[i // 2] for i, sign in zip(range(n), [1.0, -1.0] * n, strict=False)]
    return unit_rms(np.stack(signed))


def eof_noise(
    rng: np.random.Generator,
    n_days: int,
    lat: np.ndarray,
    lon: np.ndarray,
    memory: float,
    blocks: np.ndarray | None = None,
    n_modes: int = 40,
) -> np.ndarray:
    """Unit-variance noise ``(day, y, x)`` with the spatial covariance of real winter Z500:
    independent AR(1) amplitudes on the leading ``n_modes`` EOFs, scaled by their variances."""
    src_lat, src_lon, eofs, var = _reanalysis_eofs()
    n_modes = min(n_modes, len(var))
    modes = _onto(src_lat, src_lon, eofs[:n_modes], lat, lon)
    amps = ar1(rng.standard_normal((n_days, n_modes)), memory, blocks) * np.sqrt(var[:n_modes])
    field = np.einsum("tm,myx->tyx", amps, modes, optimize=True)
    return field / field.std()
