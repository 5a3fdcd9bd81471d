"""dsc_core.composites: planted anomalies, Welch t-test against scipy, NaN/mask, speed."""

import time

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from dsc_core.composites import cluster_composites, composite_of_days
from dsc_core.errors import DataError


def make_fields(n_time=120, n_lat=6, n_lon=7, n_var=2, seed=0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    time_ = np.arange("2021-01-01", n_time, dtype="datetime64[D]").astype("datetime64[ns]")
    data = {
        f"v{i}": (
            ("time", "latitude", "longitude"),
            (rng.normal(size=(n_time, n_lat, n_lon)) + 1000.0 * i).astype(np.float32),
            {"units": f"u{i}"},
        )
        for i in range(n_var)
    }
    mask = np.ones((n_lat, n_lon), dtype=bool)
    mask[0, 0] = False
    ds = xr.Dataset(
        data,
        coords={
            "time": time_,
            "latitude": np.linspace(30, 40, n_lat),
            "longitude": np.linspace(-30, -20, n_lon),
        },
    )
    ds["mask"] = (("latitude", "longitude"), mask)
    return ds


def test_planted_anomaly_is_found_and_significant():
    ds = make_fields()
    labels = np.arange(120) % 3
    ds["v1"][labels == 2, 3, 4] += 5.0  # cluster 2 is warm at one cell
    comp = cluster_composites(ds, labels)
    assert comp["anomaly"].dims == ("cluster", "variable", "latitude", "longitude")
    assert list(comp["units"].values) == ["u0", "u1"]
    assert comp["count"].values.tolist() == [40, 40, 40]
    assert comp["frequency"].values == pytest.approx([1 / 3] * 3)
    anom = comp["anomaly"].sel(cluster=2, variable="v1")
    assert float(anom[3, 4]) > 2.5
    assert bool(comp["significant"].sel(cluster=2, variable="v1")[3, 4])
    assert bool(comp["significant"].sel(cluster=0, variable="v1")[3, 4])  # the others: cold
    # pure noise elsewhere: about alpha of the cells are significant
    assert float(comp["significant"].sel(variable="v0").mean()) < 0.15
    # masked cells are NaN and never significant
    assert np.isnan(comp["mean"].values[:, :, 0, 0]).all()
    assert not comp["significant"].values[:, :, 0, 0].any()


def test_composite_of_days_equals_manual_mean_and_scipy_welch():
    ds = make_fields()
    days = np.random.default_rng(1).random(120) < 0.3
    comp = composite_of_days(ds, days)
    v1 = ds["v1"].values.astype(np.float64)
    assert comp["mean"].sel(variable="v1").values[1:, 1:] == pytest.approx(
        v1[days].mean(axis=0)[1:, 1:], rel=1e-6
    )
    anomaly = v1[days].mean(axis=0) - v1.mean(axis=0)
    assert comp["anomaly"].sel(variable="v1").values[2, 3] == pytest.approx(anomaly[2, 3], abs=1e-4)
    p = stats.ttest_ind(v1[days], v1[~days], axis=0, equal_var=False).pvalue
    expected = p < 0.05
    expected[0, 0] = False
    assert (comp["significant"].sel(variable="v1").values == expected).all()
    assert int(comp["count"]) == days.sum()
    assert float(comp["frequency"]) == pytest.approx(days.mean())


def test_nan_values_are_left_out_per_cell():
    ds = make_fields()
    ds["v0"][:10, 2, 2] = np.nan
    days = np.zeros(120, dtype=bool)
    days[:20] = True
    comp = composite_of_days(ds, days)
    v0 = ds["v0"].values.astype(np.float64)
    assert float(comp["mean"].sel(variable="v0")[2, 2]) == pytest.approx(
        np.nanmean(v0[:20, 2, 2]), rel=1e-6
    )
    p = stats.ttest_ind(v0[10:20, 2, 2], v0[20:, 2, 2], equal_var=False).pvalue
    assert bool(comp["significant"].sel(variable="v0")[2, 2]) == (p < 0.05)
    assert np.isfinite(comp["anomaly"].sel(variable="v0").values[1:, 1:]).all()


def test_empty_cluster_and_bad_selection():
    ds = make_fields()
    comp = cluster_composites(ds, np.zeros(120, dtype=int), n_clusters=2)
    assert comp["count"].values.tolist() == [120, 0]
    assert np.isnan(comp["mean"].sel(cluster=1).values).all()
    assert not comp["significant"].values.any()  # no "other" days to compare with
    with pytest.raises(DataError):
        composite_of_days(ds, np.ones(5, dtype=bool))


def test_composite_of_days_is_fast_on_a_sample_sized_grid():
    ds = make_fields(n_time=365, n_lat=41, n_lon=41, n_var=7)
    rng = np.random.default_rng(2)
    composite_of_days(ds, rng.random(365) < 0.5)  # first call prepares the sums
    best = np.inf
    for _ in range(5):
        days = rng.random(365) < 0.3
        t0 = time.perf_counter()
        composite_of_days(ds, days)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.1
