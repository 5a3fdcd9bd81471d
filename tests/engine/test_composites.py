"""dsc_core.composites: planted anomalies, Welch t-test with effective sizes against scipy,
false discovery rate on noise and red noise, NaN/mask, speed."""

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


def lag1(x: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation per cell of (time, lat, lon), floored at 0 like the module's."""
    a, b = x[:-1] - x.mean(0), x[1:] - x.mean(0)
    r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return np.clip(r, 0, 0.95)


def test_composite_of_days_equals_manual_mean_and_scipy_welch_with_effective_sizes():
    ds = make_fields()
    days = np.random.default_rng(1).random(120) < 0.3
    comp = composite_of_days(ds, days, alpha=0.05, test="local")
    v1 = ds["v1"].values.astype(np.float64)
    assert comp["mean"].sel(variable="v1").values[1:, 1:] == pytest.approx(
        v1[days].mean(axis=0)[1:, 1:], rel=1e-6
    )
    anomaly = v1[days].mean(axis=0) - v1.mean(axis=0)
    assert comp["anomaly"].sel(variable="v1").values[2, 3] == pytest.approx(anomaly[2, 3], abs=1e-4)
    shrink = (1 - lag1(v1)) / (1 + lag1(v1))
    p = stats.ttest_ind_from_stats(
        v1[days].mean(0), v1[days].std(0, ddof=1), days.sum() * shrink,
        v1[~days].mean(0), v1[~days].std(0, ddof=1), (~days).sum() * shrink,
        equal_var=False,
    ).pvalue  # fmt: skip
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
    comp = composite_of_days(ds, days, alpha=0.05, test="local")
    v0 = ds["v0"].values.astype(np.float64)
    assert float(comp["mean"].sel(variable="v0")[2, 2]) == pytest.approx(
        np.nanmean(v0[:20, 2, 2]), rel=1e-6
    )
    p = stats.ttest_ind(v0[10:20, 2, 2], v0[20:, 2, 2], equal_var=False).pvalue
    assert p > 0.1 and not comp["significant"].sel(variable="v0")[2, 2]
    assert np.isfinite(comp["anomaly"].sel(variable="v0").values[1:, 1:]).all()


def red_noise_fields(n_time=730, r=0.8, seed=3) -> xr.Dataset:
    """AR(1) noise with lag-1 autocorrelation ``r`` on every cell: no regime anywhere."""
    ds = make_fields(n_time=n_time, n_lat=12, n_lon=12, n_var=1, seed=seed)
    x = ds["v0"].values.copy()
    for t in range(1, n_time):
        x[t] = r * x[t - 1] + np.sqrt(1 - r * r) * x[t]
    return ds.assign(v0=(ds["v0"].dims, x, ds["v0"].attrs))


def spell_labels(n_time: int, k: int, spell: int, seed: int) -> np.ndarray:
    """Groups of consecutive days (spells of ``spell`` days), drawn at random: no link to
    the fields."""
    rng = np.random.default_rng(seed)
    return np.repeat(rng.integers(0, k, -(-n_time // spell)), spell)[:n_time]


def test_persistence_and_multiplicity_keep_noise_unstippled():
    ds = red_noise_fields()
    labels = spell_labels(730, 4, 8, seed=1)
    naive = cluster_composites(ds, labels, alpha=0.05, test="local")
    honest = cluster_composites(ds, labels)
    share = float(honest["significant"].values[:, :, 1:, 1:].mean())
    # the old test (no effective size, no FDR) on the same groups stipples far more
    p = [
        stats.ttest_ind(
            ds["v0"].values[labels == c], ds["v0"].values[labels != c], equal_var=False
        ).pvalue
        for c in range(4)
    ]
    old_share = float(np.mean([(pc < 0.05)[1:, 1:].mean() for pc in p]))
    assert old_share > 0.2
    assert float(naive["significant"].values.mean()) < old_share / 2
    assert share < 0.03
    assert (
        honest.attrs["test"] == "fdr" and "false discovery rate" in honest.attrs["test_description"]
    )


def test_fdr_keeps_a_planted_anomaly_in_red_noise():
    ds = red_noise_fields()
    labels = spell_labels(730, 4, 8, seed=2)
    ds["v0"][labels == 1, 2:6, 2:6] += 1.5
    sig = cluster_composites(ds, labels)["significant"].sel(cluster=1, variable="v0").values
    assert sig[2:6, 2:6].all()
    assert sig.sum() - sig[2:6, 2:6].sum() <= 3


def test_unknown_test_or_alpha_is_refused():
    ds = make_fields()
    with pytest.raises(DataError, match="unknown significance test"):
        cluster_composites(ds, np.arange(120) % 2, test="bonferroni")
    with pytest.raises(DataError, match="alpha"):
        composite_of_days(ds, np.arange(120) % 2 == 0, alpha=1.5)


def test_empty_cluster_and_bad_selection():
    ds = make_fields()
    comp = cluster_composites(ds, np.zeros(120, dtype=int), n_clusters=2)
    assert comp["count"].values.tolist() == [120, 0]
    assert np.isnan(comp["mean"].sel(cluster=1).values).all()
    assert not comp["significant"].values.any()  # no "other" days to compare with
    with pytest.raises(DataError):
        composite_of_days(ds, np.ones(5, dtype=bool))


def test_fdr_is_the_benjamini_hochberg_step_up_over_each_map():
    from dsc_core.composites import fdr

    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.004, 30), rng.uniform(0, 1, 70)]).reshape(1, 10, 10)
    tested = np.ones_like(p, dtype=bool)
    tested[0, 0, :3] = False  # masked cells are neither tested nor counted
    ranked = np.sort(p[tested])
    passing = np.nonzero(ranked <= 0.05 * np.arange(1, ranked.size + 1) / ranked.size)[0]
    expected = tested & (p <= ranked[passing[-1]])
    np.testing.assert_array_equal(fdr(p, tested, 0.05), expected)
    assert 30 - 3 <= expected.sum() < 60
