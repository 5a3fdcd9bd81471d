"""The validation suite's synthetic cases: coverage, layouts, truth, gaps, carriers."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from dsc_core.data import describe, load
from dsc_core.data.synthetic import SUITE, Case, half, make_case
from dsc_core.data.synthetic.fields import regime_sequence
from dsc_core.errors import ConfigError
from dsc_core.preprocess import Preprocessor


def test_suite_spans_the_knobs_and_splits_in_halves():
    cases = list(SUITE.values())
    assert len(cases) >= 16 and len(half("choose")) >= 8 and len(half("report")) >= 8
    sizes = [
        ((c.lat[1] - c.lat[0]) / c.resolution + 1, (c.lon[1] - c.lon[0]) / c.resolution + 1)
        for c in cases
    ]
    assert min(min(s) for s in sizes) <= 16 and max(s[0] * s[1] for s in sizes) >= 64 * 128
    assert {c.kind for c in cases} == {"surface", "pressure"}
    assert {c.layout for c in cases} == {"era5", "cds"}
    assert {c.patterns for c in cases} == {"blobs", "eofs"} and "eofs" in {c.noise for c in cases}
    assert any(c.months == (12, 1, 2) for c in cases)
    assert {c.n_regimes for c in cases} >= {2, 8}
    assert any(c.carriers and len(c.carriers) == 1 for c in cases)
    assert any(c.carriers and len(c.carriers) == 2 for c in cases)
    assert any(c.interannual > 0 for c in cases) and any(c.heavy_tails for c in cases)
    assert any(c.land > 0 for c in cases) and any(c.seasonal > 0 for c in cases)
    assert {c.mean_spell for c in cases} >= {2.0, 10.0}


def test_djf_pressure_case_in_cds_layout(tmp_path):
    case = replace(SUITE["z500-djf-eofs"], years=(2000, 2002))
    raw = make_case(case)
    assert {"valid_time", "pressure_level"} <= set(raw.dims)
    assert raw["latitude"].values[0] > raw["latitude"].values[-1]  # descending, as ERA5
    assert set(raw.data_vars) == {"z", "t", "u", "v"} and raw.attrs["synthetic"] == 1
    path = tmp_path / "djf.nc"
    raw.to_netcdf(path)
    info = describe(str(path))
    assert info["days"] == "3 blocks of 90–91 days"  # winters 1999/2000 (leap), 2001, 2002
    ds = load(str(path))
    assert ds.sizes["time"] == raw.sizes["valid_time"] and "regime" in ds.coords
    assert np.all(np.diff(ds["latitude"].values) > 0)
    months = set(ds["time"].dt.month.values.tolist())
    assert months == {12, 1, 2}
    again = make_case(case)
    np.testing.assert_array_equal(again["z"].values, raw["z"].values)  # deterministic


def test_unequal_frequencies_and_spells():
    phase = np.zeros(40000)
    blocks = np.zeros(40000, np.int64)
    freqs = np.array([0.6, 0.3, 0.1])
    seq = regime_sequence(np.random.default_rng(0), phase, blocks, freqs, 6.0, 0.0)
    shares = np.bincount(seq, minlength=3) / len(seq)
    assert shares[0] > shares[1] > shares[2] and abs(shares[0] - 0.6) < 0.1
    changes = np.count_nonzero(np.diff(seq))
    assert 3.0 < len(seq) / changes < 10.0  # mean spell of a few days


def test_only_carriers_hold_the_regimes():
    case = Case(
        "tiny",
        "test",
        lat=(30.0, 45.0),
        lon=(-20.0, -5.0),
        resolution=1.0,
        years=(2001, 2001),
        n_regimes=3,
        carriers=("sp",),
        signal=2.0,
    )
    ds = load(make_case(case))
    truth = ds["regime"].values

    def ari(var: str) -> float:
        plain = Preprocessor(deseasonalize=False, area_weighting=False)
        x = plain.fit_transform(ds[[var, "mask"]])
        labels = KMeans(3, n_init=5, random_state=0).fit_predict(x.reshape(len(x), -1))
        return adjusted_rand_score(truth, labels)

    assert ari("sp") > 0.5
    assert ari("t2m") < 0.1 and ari("u10") < 0.1


def test_bad_case_settings_are_refused():
    with pytest.raises(ConfigError, match="carriers"):
        Case("x", "bad", carriers=("z",)).check()
    with pytest.raises(ConfigError, match="n_regimes"):
        Case("x", "bad", n_regimes=9).check()


def test_generated_cases_span_the_characters_and_split_by_seed():
    from dsc_core.data.synthetic import generated_suite
    from dsc_core.data.synthetic.generator import MAX_DAYS, MIN_DAYS

    cases = generated_suite(48)
    assert [c.half for c in cases[:4]] == ["choose", "report", "choose", "report"]
    no_regimes = [c for c in cases if c.n_regimes == 0]
    assert 3 <= len(no_regimes) <= 12  # about 15 %
    assert {c.n_regimes for c in cases} >= {2, 3, 4, 5, 6, 7, 8}
    assert any(c.patterns == "eofs" and c.pattern_offset > 0 and c.noise == "eofs" for c in cases)
    assert any(c.months == (12, 1, 2) for c in cases) and any(c.months is None for c in cases)
    assert any("tp" in c.variables for c in cases) and any(c.interannual > 0 for c in cases)
    assert any(c.signal < 1 and c.noise_scale > 0.5 for c in cases)  # large-scale noise wins
    days = [len(pd.date_range(f"{c.years[0] - 1}-12-01", f"{c.years[1]}-12-31")) for c in cases]
    assert min(days) < 3 * MIN_DAYS and max(days) > MAX_DAYS / 3
    assert generated_suite(3) == cases[:3]  # deterministic


def test_a_generated_case_with_rain_and_regimes_below_noise_modes():
    case = Case(
        "rainy",
        "test",
        keep=("t2m", "sp", "tp"),
        years=(2001, 2001),
        months=(6, 7, 8),
        patterns="eofs",
        pattern_offset=2,
        noise="eofs",
        resolution=1.0,
    )
    ds = make_case(case)
    assert set(ds.data_vars) == {"t2m", "sp", "tp"} and ds.sizes["time"] == 92
    rain = ds["tp"].values
    assert (rain >= 0).all() and 0.3 < (rain == 0).mean() < 0.95  # zero on most days
    assert ds["tp"].attrs["units"] == "m"
    with pytest.raises(ConfigError, match="keep"):
        make_case(replace(case, keep=("z",)))
