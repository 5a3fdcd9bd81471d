"""Preprocessor, window_indices and paper_features on tiny grids."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core.data.calendar import blocks_text
from dsc_core.data.synthetic import sample
from dsc_core.days import window_indices
from dsc_core.errors import ConfigError, DataError
from dsc_core.preprocess import Preprocessor, paper_features


def _tiny(n_days=400, ny=5, nx=7, seed=0, start="2020-01-01") -> xr.Dataset:
    """Two variables on a small grid: 'a' with an annual sinusoid, 'b' noise; one NaN cell."""
    rng = np.random.default_rng(seed)
    time = pd.date_range(start, periods=n_days, freq="D")
    phase = 2 * np.pi * (time.dayofyear.to_numpy() - 1) / np.where(time.is_leap_year, 366, 365)
    season = 10.0 * np.cos(phase - 0.5)[:, None, None] * np.linspace(0.5, 1.5, nx)[None, None]
    a = 280.0 + season + rng.normal(0, 0.5, (n_days, ny, nx))
    b = 1000.0 + rng.normal(0, 30, (n_days, ny, nx))
    a[:, 0, 0] = np.nan
    mask = np.ones((ny, nx), bool)
    mask[0, 0] = False
    return xr.Dataset(
        {
            "a": (("time", "latitude", "longitude"), a.astype(np.float32), {"units": "K"}),
            "b": (("time", "latitude", "longitude"), b.astype(np.float32), {"units": "Pa"}),
            "mask": (("latitude", "longitude"), mask),
        },
        coords={"time": time, "latitude": np.arange(ny) * 1.0, "longitude": np.arange(nx) - 10.0},
    )


@pytest.fixture(scope="module")
def tiny():
    return _tiny()


def test_shapes_padding_mask(tiny):
    pre = Preprocessor(deseasonalize=False, area_weighting=False, pad_multiple=4)
    x = pre.fit_transform(tiny)
    assert x.dtype == np.float32 and x.shape == (400, 2, 8, 8)
    assert pre.variables_ == ["a", "b"]
    assert pre.padded_mask_.shape == (8, 8) and pre.padded_mask_.sum() == 5 * 7 - 1
    # centred: 8 - 5 = 3 rows -> 1 above, 2 below; 8 - 7 = 1 column -> 0 left, 1 right
    assert pre.padded_mask_[1:6, 0:7].sum() == 34
    assert np.all(x[:, :, ~pre.padded_mask_] == 0)
    assert np.isfinite(x).all()
    valid = x[:, 1][:, pre.padded_mask_]
    assert abs(valid.mean()) < 1e-4 and abs(valid.std() - 1) < 1e-3
    assert list(pre.mean_["variable"].values) == ["a", "b"]


def test_pad_multiple_one_keeps_grid(tiny):
    assert Preprocessor(pad_multiple=1).fit_transform(tiny).shape == (400, 2, 5, 7)


def test_mask_learns_nan_cells():
    ds = _tiny(n_days=30).drop_vars("mask")
    pre = Preprocessor(pad_multiple=1).fit(ds)
    assert not pre.mask_[0, 0] and pre.mask_.sum() == 34


@pytest.mark.parametrize("deseasonalize", [False, True])
def test_inverse_round_trip(tiny, deseasonalize):
    pre = Preprocessor(deseasonalize=deseasonalize, pad_multiple=4)
    x = pre.fit_transform(tiny)
    back = pre.inverse_transform(x)
    expected = pre.anomalies(tiny)
    for v in ("a", "b"):
        assert back[v].dims == ("time", "latitude", "longitude")
        assert np.isnan(back[v].values[:, 0, 0]).all()
        np.testing.assert_allclose(
            back[v].values[:, 1:, 1:], expected[v].values[:, 1:, 1:], rtol=1e-5, atol=1e-3
        )
        assert back[v].attrs["units"] == tiny[v].attrs["units"]
    if not deseasonalize:
        np.testing.assert_allclose(back["a"].values[:, 1:], tiny["a"].values[:, 1:], rtol=1e-6)
    one = pre.inverse_transform(x[0])
    assert one["a"].dims == ("latitude", "longitude")


def test_deseasonalize_removes_sinusoid(tiny):
    pre = Preprocessor(deseasonalize=True, n_harmonics=3).fit(tiny)
    anom = pre.anomalies(tiny)["a"].values[:, 1:, :]
    assert pre.harmonics_ == [1, 2, 3]
    assert anom.std() < 0.6  # the noise (0.5) is left, the 10 K cycle is gone
    assert tiny["a"].values[:, 1:, :].std() > 5
    clim = pre.seasonal_cycle(tiny.time.values)["a"].values[:, 1:, :]
    time = pd.DatetimeIndex(tiny.time.values)  # the cycle _tiny plants, with its mean
    phase = 2 * np.pi * (time.day_of_year.to_numpy() - 1) / np.where(time.is_leap_year, 366, 365)
    planted = 280.0 + 10.0 * np.cos(phase - 0.5)[:, None, None] * np.linspace(0.5, 1.5, 7)
    np.testing.assert_allclose(clim, np.broadcast_to(planted, clim.shape), atol=0.25)


def test_harmonics_follow_span():
    assert Preprocessor(deseasonalize=True).fit(_tiny(n_days=60)).harmonics_ == []
    assert Preprocessor(deseasonalize=True).fit(_tiny(n_days=250)).harmonics_ == []
    year = _tiny(n_days=365, start="2021-01-01")
    assert Preprocessor(deseasonalize=True).fit(year).harmonics_ == [1]  # auto: 1 per year
    assert Preprocessor(deseasonalize=True, n_harmonics=3).fit(year).harmonics_ == [1, 2, 3]
    years = _tiny(n_days=5 * 365, start="2015-01-01")
    assert Preprocessor(deseasonalize=True).fit(years).harmonics_ == [1, 2, 3]


def test_dict_round_trip(tiny):
    pre = Preprocessor(deseasonalize=True, pad_multiple=4).fit(tiny)
    d = json.loads(json.dumps(pre.to_dict(), allow_nan=False))
    again = Preprocessor.from_dict(d)
    new = _tiny(n_days=50, seed=5, start="2023-03-01")
    np.testing.assert_array_equal(pre.transform(new), again.transform(new))
    x = pre.transform(new)
    xr.testing.assert_identical(pre.inverse_transform(x), again.inverse_transform(x))
    np.testing.assert_array_equal(pre.padded_mask_, again.padded_mask_)


def test_area_weighting_counts_cells_by_area_and_round_trips():
    ds = _tiny().assign_coords(latitude=[0.0, 30.0, 45.0, 60.0, 75.0])
    plain = Preprocessor(pad_multiple=1, area_weighting=False).fit(ds)
    pre = Preprocessor(pad_multiple=1, area_weighting=True).fit(ds)
    x, w = pre.transform(ds), plain.transform(ds)
    ratio = x[:, 1, 3, 2] / w[:, 1, 3, 2]  # 60°N against the equator: √(cos 60° / cos 0°)
    np.testing.assert_allclose(
        ratio / (x[:, 1, 1, 2] / w[:, 1, 1, 2]), np.sqrt(0.5 / np.cos(np.pi / 6)), rtol=1e-4
    )
    weights = pre.cell_weights()
    assert np.mean(weights[pre.mask_] ** 2) == pytest.approx(1.0)
    np.testing.assert_allclose(
        pre.inverse_transform(x)["b"].values[:, 1:], pre.anomalies(ds)["b"].values[:, 1:], rtol=1e-5
    )
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(again.transform(ds), x)
    old = pre.to_dict()
    del old["area_weighting"]  # a run saved before the option: unweighted, as it was trained
    np.testing.assert_array_equal(Preprocessor.from_dict(old).transform(ds), w)


def test_dask_input(tiny):
    pytest.importorskip("dask")
    lazy = tiny.chunk({"time": 100})
    pre = Preprocessor(deseasonalize=True, pad_multiple=4)
    np.testing.assert_allclose(
        pre.fit_transform(lazy), Preprocessor(True, pad_multiple=4).fit_transform(tiny), atol=1e-5
    )


def test_sample_transform():
    ds = sample("2021-01-01", "2021-03-31")
    pre = Preprocessor(deseasonalize=True)
    x = pre.fit_transform(ds)
    assert x.shape == (90, 7, 48, 48)
    assert pre.padded_mask_.sum() == ds["mask"].sum()


def test_window_indices():
    idx = window_indices(5, 3)
    assert idx.dtype == np.int64 and idx.shape == (5, 3)
    np.testing.assert_array_equal(idx[0], [0, 0, 1])
    np.testing.assert_array_equal(idx[2], [1, 2, 3])
    np.testing.assert_array_equal(idx[4], [3, 4, 4])
    np.testing.assert_array_equal(window_indices(4, 1)[:, 0], np.arange(4))
    np.testing.assert_array_equal(window_indices(1, 5), [[0, 0, 0, 0, 0]])
    for bad in (0, 2, -1):
        with pytest.raises(ConfigError):
            window_indices(5, bad)


def test_window_indices_stop_at_gaps():
    """DJF-like dates: 28 February never reads the next winter's 1 December."""
    feb = np.arange("2001-02-26", "2001-03-01", dtype="datetime64[D]")
    dec = np.arange("2001-12-01", "2001-12-04", dtype="datetime64[D]")
    time = np.concatenate([feb, dec])  # 26, 27, 28 Feb | 1, 2, 3 Dec
    idx = window_indices(6, 5, time)
    np.testing.assert_array_equal(idx[2], [0, 1, 2, 2, 2])
    np.testing.assert_array_equal(idx[3], [3, 3, 3, 4, 5])
    np.testing.assert_array_equal(window_indices(6, 5)[2], [0, 1, 2, 3, 4])  # positions only
    with pytest.raises(DataError):
        window_indices(5, 3, time)
    assert blocks_text(time) == "2 blocks of 3 days"
    assert blocks_text(np.concatenate([feb, dec[:2]])) == "2 blocks of 2–3 days"
    assert blocks_text(feb) == "consecutive"


def test_paper_features(tiny):
    f = paper_features(tiny, tiny["mask"])
    assert f.dtype == np.float64 and f.shape == (400, 2 * 34)
    assert f.min() == 0.0 and f.max() == 1.0
    assert np.allclose(f.min(0), 0) and np.allclose(f.max(0), 1)
    assert paper_features(tiny, None).shape == f.shape


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda ds: ds.isel(time=slice(0, 0)), "empty"),
        (lambda ds: ds.isel(time=slice(0, 1)), "too few days"),
        (lambda ds: ds.assign(b=ds["b"] * np.nan), "all NaN"),
        (lambda ds: ds.drop_vars(["a", "b"]), "no variable"),
    ],
)
def test_data_errors(tiny, make, match):
    with pytest.raises(DataError, match=match):
        Preprocessor().fit(make(tiny))


def test_other_errors(tiny):
    with pytest.raises(DataError, match="too few days"):
        Preprocessor(deseasonalize=True).fit(tiny.isel(time=[0, 100, 200, 399]))
    with pytest.raises(ConfigError):
        Preprocessor(pad_multiple=0).fit(tiny)
    with pytest.raises(ConfigError):
        Preprocessor().transform(tiny)
    pre = Preprocessor().fit(tiny)
    with pytest.raises(DataError, match="grid"):
        pre.transform(tiny.isel(latitude=slice(0, 3)))
    with pytest.raises(DataError):
        pre.inverse_transform(np.zeros((2, 3, 16, 16)))


def test_clip_bounds_the_z_scores_and_is_stored():
    ds = _tiny()
    ds["b"][5, 2, 2] = 1e6  # one extreme value
    x = Preprocessor(pad_multiple=1, clip=3.0, area_weighting=False).fit(ds).transform(ds)
    assert np.abs(x).max() == pytest.approx(3.0)
    pre = Preprocessor(pad_multiple=1, clip=3.0).fit(ds)
    assert Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict()))).clip == 3.0
    with pytest.raises(ConfigError, match="clip"):
        Preprocessor(clip=0).fit(ds)
