"""The synthetic ERA5-like sample: layout, ranges, determinism, and visible planted regimes."""

import time

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from dsc_core.data.synthetic import RANGES, VARIABLES, sample
from dsc_core.errors import ConfigError


@pytest.fixture(scope="module")
def ds():
    return sample()


def _anomalies(ds) -> np.ndarray:
    """(day, features): valid cells of every variable minus mean + 3 annual harmonics, z-scored."""
    phase = 2 * np.pi * (ds.time.dt.dayofyear.values - 1) / 365.25
    design = np.stack(
        [np.ones_like(phase)] + [f(h * phase) for h in (1, 2, 3) for f in (np.cos, np.sin)], 1
    )
    mask = ds["mask"].values
    parts = []
    for name in VARIABLES:
        x = ds[name].values[:, mask].astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, x, rcond=None)
        a = x - design @ coef
        parts.append((a - a.mean()) / a.std())
    return np.concatenate(parts, axis=1)


def test_layout(ds):
    assert dict(ds.sizes) == {"time": 365, "latitude": 41, "longitude": 41}
    assert np.allclose(ds.latitude, np.arange(33, 43.001, 0.25))
    assert np.allclose(ds.longitude, np.arange(-33, -22.999, 0.25))
    for name, (long_name, units) in VARIABLES.items():
        assert ds[name].dims == ("time", "latitude", "longitude")
        assert ds[name].dtype == np.float32
        assert ds[name].attrs == {"units": units, "long_name": long_name}
    assert ds.time.dtype == "datetime64[ns]"
    assert ds["mask"].dtype == bool and ds["mask"].dims == ("latitude", "longitude")
    assert ds.regime.dtype == np.int64 and ds.regime.dims == ("time",)
    assert ds.attrs["synthetic"] == 1 and ds.attrs["n_regimes"] == 4
    assert ds.attrs["source"] == "dsc_core.sample"
    assert "SYNTHETIC" in ds.attrs["title"]


def test_ranges(ds):
    for name, (lo, hi) in RANGES.items():
        values = ds[name].values
        assert lo <= np.nanmin(values) and np.nanmax(values) <= hi, name
        assert np.nanstd(values) > 0, name


def test_mask_and_land(ds):
    mask = ds["mask"].values
    assert 3 <= (~mask).sum() <= 40
    land_lat, land_lon = np.nonzero(~mask)
    assert np.all((ds.latitude.values[land_lat] >= 36.5) & (ds.latitude.values[land_lat] <= 40))
    assert np.all((ds.longitude.values[land_lon] >= -32) & (ds.longitude.values[land_lon] <= -24))
    sst = ds["sst"].values
    assert np.isnan(sst[:, ~mask]).all() and np.isfinite(sst[:, mask]).all()
    for name in VARIABLES:
        if name != "sst":
            assert np.isfinite(ds[name].values).all(), name


def test_fluxes_sign(ds):
    # the ocean loses heat on average: ERA5 downward-positive fluxes are negative
    assert float(ds["slhf"].mean()) < 0 and float(ds["sshf"].mean()) < 0


def _peak_day(series: np.ndarray) -> float:
    phase = 2 * np.pi * np.arange(series.size) / 365
    design = np.stack([np.ones_like(phase), np.cos(phase), np.sin(phase)], 1)
    _, c, s = np.linalg.lstsq(design, series, rcond=None)[0]
    return float(np.degrees(np.arctan2(s, c)) % 360 * 365 / 360)


def test_seasonal_cycle(ds):
    sst = ds["sst"].mean(("latitude", "longitude")).values
    t2m = ds["t2m"].mean(("latitude", "longitude")).values
    assert 200 < _peak_day(sst) < 280
    assert _peak_day(sst) - _peak_day(t2m) > 10  # the sea lags the air
    assert sst[200:260].mean() - sst[30:90].mean() > 4


def test_determinism():
    a = sample("2021-01-01", "2021-02-15", seed=3)
    b = sample("2021-01-01", "2021-02-15", seed=3)
    c = sample("2021-01-01", "2021-02-15", seed=4)
    assert a.identical(b)
    assert not np.allclose(a["sp"].values, c["sp"].values)


def test_regimes_persistent(ds):
    regime = ds.regime.values
    assert set(regime) == {0, 1, 2, 3}
    changes = np.r_[0, np.flatnonzero(np.diff(regime)) + 1, regime.size]
    assert np.diff(changes).mean() > 3


def test_wind_follows_pressure(ds):
    sp = ds["sp"].values.astype(np.float64)
    u = ds["u10"].values
    u_anom = (u - u.mean(0)).ravel()
    grad = -np.gradient(sp, axis=1)
    grad = (grad - grad.mean(0)).ravel()
    assert np.corrcoef(u_anom, grad)[0, 1] > 0.5


def test_regimes_visible_to_kmeans(ds):
    labels = KMeans(4, n_init=10, random_state=0).fit_predict(_anomalies(ds))
    ari = adjusted_rand_score(ds.regime.values, labels)
    print(f"k-means ARI against the planted regimes: {ari:.3f}")
    assert ari >= 0.4


@pytest.mark.parametrize("n_regimes", [2, 8])
def test_other_regime_counts(n_regimes):
    ds = sample("2021-01-01", "2021-06-30", n_regimes=n_regimes)
    assert set(ds.regime.values) == set(range(n_regimes))
    means = [ds["sp"].values[ds.regime.values == k].mean(0) for k in range(n_regimes)]
    for i in range(n_regimes):
        for j in range(i):
            assert np.abs(means[i] - means[j]).max() > 200  # Pa


def test_short_ranges_and_leap_day():
    one = sample("2021-05-05", "2021-05-05")
    assert one.sizes["time"] == 1
    leap = sample("2020-02-28", "2020-03-01")
    assert leap.sizes["time"] == 3


def test_fast():
    start = time.perf_counter()
    sample(seed=11)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "kwargs", [{"n_regimes": 1}, {"n_regimes": 9}, {"start": "2021-02-01", "end": "2021-01-01"}]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        sample(**kwargs)
