"""dsc_core.significance: planted regimes rank above red noise, red noise does not."""

import numpy as np
import pytest
from sklearn.cluster import KMeans

import dsc_core
from dsc_core.errors import ConfigError
from dsc_core.pipeline import SIGNIFICANT_PERCENTILE, RunConfig, run
from dsc_core.significance import red_noise, regime_significance


def kmeans(X: np.ndarray, seed: int) -> np.ndarray:
    return KMeans(3, n_init=3, random_state=seed).fit_predict(X.reshape(len(X), -1))


def fields(regimes: bool, n=400, seed=0) -> np.ndarray:
    """(day, 1, 6, 6): AR(1) noise, plus three persistent patterns when ``regimes``."""
    rng = np.random.default_rng(seed)
    noise = red_noise(rng.normal(size=(n, 36)), None, rng)
    if regimes:
        patterns = 2.5 * rng.normal(size=(3, 36))
        noise += patterns[np.repeat(rng.integers(0, 3, n // 10 + 1), 10)[:n]]
    return noise.reshape(n, 1, 6, 6).astype(np.float32)


@pytest.mark.parametrize("regimes", [True, False])
def test_regimes_stand_out_from_red_noise_and_noise_does_not(regimes):
    X = fields(regimes)
    mask = np.ones((6, 6), bool)
    result = regime_significance(X, mask, kmeans(X, 0), kmeans, n_surrogates=20)
    significant = result["percentile"] >= SIGNIFICANT_PERCENTILE
    assert significant == regimes and len(result["null"]) == 20


def test_red_noise_keeps_variance_and_persistence():
    rng = np.random.default_rng(1)
    pcs = np.zeros((5000, 2))
    for t in range(1, 5000):  # AR(1) with r = 0.8 and 0.2, standard deviations 1 and 3
        pcs[t] = [0.8, 0.2] * pcs[t - 1] + rng.normal(size=2) * [0.6, 0.98 * 3]
    x = red_noise(pcs, None, rng)
    r = [np.corrcoef(x[:-1, i], x[1:, i])[0, 1] for i in range(2)]
    assert np.allclose(r, [0.8, 0.2], atol=0.05) and np.allclose(x.std(0), pcs.std(0), rtol=0.1)
    time = np.r_[np.arange("2020-12-01", "2021-03-01", dtype="datetime64[D]"),
                 np.arange("2021-12-01", "2022-03-01", dtype="datetime64[D]")]  # fmt: skip
    assert red_noise(pcs[: len(time)], time, rng).shape == (len(time), 2)


def test_run_reports_the_percentile_and_refuses_bad_counts():
    data = dsc_core.sample(start="2021-01-01", end="2021-04-30")
    cfg = RunConfig(method="kmeans", clusters=4, bbox=(35.0, 38.0, -30.0, -27.0), surrogates=3)
    metrics = run(cfg, data=data).metrics
    sig = metrics["significance"]
    null = np.asarray(sig["null"])
    assert sig["n_surrogates"] == len(null) == 3
    assert sig["percentile"] == pytest.approx(100 * (null < sig["statistic"]).mean())
    warned = any("red noise" in w for w in metrics["trust"]["warnings"])
    assert warned == (sig["percentile"] < 95)
    with pytest.raises(ConfigError, match="surrogates"):
        RunConfig(surrogates=-1).validate()


def test_a_run_no_more_distinct_than_red_noise_is_warned_about(monkeypatch):
    import dsc_core.significance as significance

    def ranked_low(*args, **kwargs):
        return {"statistic": 0.3, "null": [0.4] * 3, "percentile": 40.0, "n_surrogates": 3,
                "n_components": 10}  # fmt: skip

    monkeypatch.setattr(significance, "regime_significance", ranked_low)
    data = dsc_core.sample(start="2021-01-01", end="2021-02-28")
    cfg = RunConfig(method="kmeans", clusters=3, bbox=(35.0, 38.0, -30.0, -27.0), surrogates=3)
    warnings = run(cfg, data=data).metrics["trust"]["warnings"]
    assert any("not more distinct than red noise" in w and "40 %" in w for w in warnings)


def test_red_noise_with_per_winter_anomalies_is_not_structure():
    """Ten winters of red noise, each winter shifted by its own large anomaly: clusters of
    winters are interannual variability, not regimes, and must not pass the structure test
    (they did, at the 100th percentile, against AR(1) surrogates that drop the winters'
    means)."""
    from dsc_core.data.calendar import day_blocks
    from dsc_core.trust import THRESHOLDS, structure_test

    rng = np.random.default_rng(4)
    time = np.concatenate([np.arange(f"{y}-12-01", f"{y + 1}-03-01", dtype="datetime64[D]")
                           for y in range(1990, 2000)])  # fmt: skip
    pcs = np.zeros((len(time), 10))
    for t in range(1, len(time)):
        pcs[t] = 0.7 * pcs[t - 1] + rng.normal(size=10) * np.linspace(2, 0.5, 10)
    anomalies = rng.normal(size=(10, 10)) * np.r_[8.0, 6.0, np.zeros(8)]
    noisy_winters = pcs + anomalies[day_blocks(time)]
    assert structure_test(noisy_winters, 4, time, seed=0)["percentile"] < THRESHOLDS.structure
