"""dsc_core.pipeline: RunConfig and run() end to end on a tiny crop of the sample."""

import json
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import dsc_core
from dsc_core.errors import Cancelled, ConfigError, DataError
from dsc_core.pipeline import RunConfig, run
from dsc_core.runs import load_run, save_run

BBOX = (35.0, 38.0, -30.0, -27.0)


@pytest.fixture(scope="module")
def tiny():
    return dsc_core.sample(start="2021-01-01", end="2021-03-31")


def test_config_json_round_trip():
    cfg = RunConfig(variables=["sst", "t2m"], bbox=BBOX, clusters=5, window=3, params={"a": 1})
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError):
        RunConfig.from_dict({"clusterz": 3})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"clusters": 1}, "clusters"),
        ({"method": "kmeens"}, "unknown method"),
        ({"preset": "huge"}, "unknown preset"),
        ({"device": "tpu"}, "unknown device"),
        ({"window": 4}, "window"),
        ({"seed": -5}, "seed must be an integer from 0 to"),
        ({"seed": 99999999999}, "seed must be an integer from 0 to"),
    ],
)
def test_validate_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        RunConfig(**kwargs).validate()
    assert "\n" not in str(err.value)


def test_more_clusters_than_days_is_a_data_error(tiny):
    cfg = RunConfig(start="2021-01-01", end="2021-01-03", clusters=4, method="kmeans", bbox=BBOX)
    with pytest.raises(DataError, match="fewer days than clusters"):
        run(cfg, data=tiny)


def test_kmeans_run_end_to_end(tiny, tmp_path):
    events = []
    cfg = RunConfig(clusters=3, method="kmeans", bbox=BBOX, deseasonalize=False)
    r = run(cfg, callbacks=[events.append], data=tiny)
    phases = [e.phase for e in events]
    assert list(dict.fromkeys(phases)) == ["load", "preprocess", "write", "analysis", "trust"]
    # the preprocessing reports its blocks of days: two passes to fit, one to write
    assert [(e.epoch, e.n_epochs) for e in events if e.phase == "write"] == [(1, 1)]
    assert [e.epoch for e in events if e.phase == "preprocess" and e.n_epochs] == [1, 2]
    n = 90
    assert r.labels.shape == (n,) and r.labels.dtype == np.int64
    assert r.soft.shape == (n, 3)
    np.testing.assert_allclose(r.soft.sum("cluster"), 1, rtol=1e-5)
    assert r.latent.sizes["time"] == n
    assert r.composites["anomaly"].dims == ("cluster", "variable", "latitude", "longitude")
    assert r.composites.sizes["latitude"] == r.fields.sizes["latitude"] == 13
    assert "mask" in r.fields and "sst" in r.fields
    m = r.metrics
    assert set(m) >= {"internal", "truth", "regimes", "reference", "fit_seconds", "total_seconds"}
    assert m["reference"]["method"] == "kmeans"
    truth = tiny["regime"].sel(time=r.labels["time"]).values  # the sample's planted regimes
    assert m["truth"]["ari"] == pytest.approx(adjusted_rand_score(truth, r.labels.values))
    assert m["internal"]["silhouette_cosine"] is not None
    assert sum(m["regimes"]["counts"]) == n
    # a kmeans run is its own reference when seeds agree
    assert m["reference"]["truth"]["ari"] == pytest.approx(m["truth"]["ari"])

    back = load_run(save_run(r, tmp_path / "run"))
    assert (back.labels.values == r.labels.values).all()
    assert back.metrics["truth"] == pytest.approx(r.metrics["truth"])


def test_a_season_is_clustered_after_the_whole_period_s_cycle_is_removed():
    year = dsc_core.sample(start="2021-01-01", end="2021-12-31")
    cfg = RunConfig(clusters=3, method="kmeans", bbox=BBOX, months="DJF")
    r = run(cfg, data=year)
    months = set(r.labels["time"].dt.month.values)
    assert months == {12, 1, 2} and r.metrics["n_days"] == r.labels.size == 31 + 28 + 31
    assert r.config.months == [12, 1, 2]  # normalised, stored with the run
    whole = run(RunConfig(clusters=3, method="kmeans", bbox=BBOX), data=year)
    # the same climatology (fitted on every day), so the same anomalies on the winter days
    winter = whole.fields["t2m"].sel(time=r.fields["time"])
    np.testing.assert_allclose(r.fields["t2m"], winter, atol=1e-4)
    with pytest.raises(DataError, match="no day of JJA"):
        run(
            RunConfig(clusters=3, method="kmeans", bbox=BBOX, months="JJA"),
            data=year.sel(time=slice("2021-01-01", "2021-03-31")),
        )


def spell_lengths(labels):
    """Lengths of the runs of equal labels of consecutive days."""
    return np.diff(np.flatnonzero(np.diff(np.r_[-1, labels, -1]) != 0))


def test_min_spell_surrogates_and_clusters_numbered_by_frequency(tiny, tmp_path):
    from sklearn.decomposition import PCA

    from dsc_core.pipeline import prepare

    events = []
    cfg = RunConfig(clusters=4, method="kmeans", bbox=BBOX, min_spell=3, surrogates=2)
    r = run(cfg, callbacks=[events.append], data=tiny)
    stored = load_run(save_run(r, tmp_path / "run"))
    # the stored labels have no spell shorter than min_spell (90 consecutive days)
    assert spell_lengths(stored.labels.values).min() >= 3
    assert spell_lengths(stored.labels.values).sum() == stored.n_days == 90
    # the asked surrogates were clustered, and the run is ranked among them
    sig = stored.metrics["significance"]
    null = np.asarray(sig["null"])
    assert sig["n_surrogates"] == len(null) == 2
    assert [e.message for e in events if e.phase == "significance"] == [
        "red-noise surrogate 1 of 2", "red-noise surrogate 2 of 2"]  # fmt: skip
    assert sig["percentile"] == pytest.approx(100 * (null < sig["statistic"]).mean())
    # the statistic: variance explained by the means of the filtered clusters, in the space
    # of the leading 10 principal components of the clustered days
    prepared = prepare(cfg, tiny)
    flat = prepared.X[:, :, prepared.mask].reshape(90, -1).astype(np.float64)
    pcs = PCA(10, random_state=0).fit_transform(flat)
    labels = stored.labels.values
    within = sum(((pcs[labels == c] - pcs[labels == c].mean(0)) ** 2).sum() for c in range(4))
    assert sig["statistic"] == pytest.approx(1 - within / ((pcs - pcs.mean(0)) ** 2).sum())
    counts = r.metrics["regimes"]["counts"]
    assert counts == sorted(counts, reverse=True)  # cluster 0 is the most frequent
    spells = r.metrics["regimes"]["spells"]
    assert min(min(s) for s in spells if s) >= 3
    before = r.metrics["regimes_unfiltered"]
    assert before["mean_spell_overall"] <= r.metrics["regimes"]["mean_spell_overall"]
    assert r.composites["count"].values.tolist() == counts
    assert np.array_equal(r.soft.argmax("cluster").values, relabel_raw(r))
    with pytest.raises(ConfigError, match="min_spell"):
        RunConfig(min_spell=0).validate()


def relabel_raw(r):
    """The run's unfiltered labels (k-means: the nearest centre), in the run's numbering."""
    from dsc_core.regimes import relabel

    return relabel(r.estimator.labels_, np.asarray(r.metrics["cluster_order"]))


def test_dsc_run_fast_preset_with_deseasonalising(tiny, tmp_path):
    events = []
    cfg = RunConfig(
        clusters=3,
        method="dsc",
        bbox=BBOX,
        preset="fast",
        device="cpu",
        params={"pretrain_epochs": 2, "max_epochs": 1},
    )
    r = run(cfg, callbacks=[events.append], data=tiny)
    phases = [e.phase for e in events]
    assert phases[:2] == ["load", "preprocess"] and phases[-1] == "trust"
    assert "pretrain" in phases
    assert len(r.history) >= 1
    assert r.latent.sizes["latent"] == 8
    # deseasonalised fields are anomalies: about zero mean over the period
    assert abs(float(r.fields["t2m"].mean())) < 1.0
    path = save_run(r, tmp_path / "dsc")
    back = load_run(path)
    assert back.estimator is None
    assert type(back.model).__name__ == "DSC"  # loaded lazily from model/
    order = np.asarray(r.metrics["cluster_order"])  # the model's id of each run cluster
    assert (order[r.labels.values] == back.model.labels_).all()


def test_cancel_stops_the_run(tiny):
    def cancel(event):
        if event.phase == "pretrain":
            raise Cancelled("stopped by the user")

    cfg = RunConfig(clusters=3, method="dsc", bbox=BBOX, preset="fast", device="cpu")
    with pytest.raises(Cancelled):
        run(cfg, callbacks=[cancel], data=tiny)


def rmse(features, labels):
    """sqrt(Σ_days ‖x − own cluster mean‖² / n_days), by hand."""
    means = {c: features[labels == c].mean(0) for c in np.unique(labels)}
    own = np.stack([means[c] for c in labels])
    return np.sqrt(((features - own) ** 2).sum() / len(features))


def test_score_space_paper_scores_the_raw_fields():
    from dsc_core.data import load
    from dsc_core.preprocess import paper_features

    year = dsc_core.sample(start="2021-01-01", end="2021-12-31")  # a seasonal cycle to remove
    cfg = RunConfig(clusters=3, method="kmeans", bbox=BBOX)
    on_anomalies = run(cfg, data=year)
    on_raw = run(replace(cfg, score_space="paper"), data=year)
    labels = on_anomalies.labels.values
    np.testing.assert_array_equal(on_raw.labels.values, labels)  # the same fit, scored twice
    # the anomalies the run clustered (its stored fields), and the raw fields of its box
    anomalies = paper_features(on_anomalies.fields)
    raw = paper_features(load(year, bbox=BBOX))
    assert on_anomalies.metrics["internal"]["rmse"] == pytest.approx(rmse(anomalies, labels))
    assert on_raw.metrics["internal"]["rmse"] == pytest.approx(rmse(raw, labels))
    assert rmse(raw, labels) != pytest.approx(rmse(anomalies, labels))
    with pytest.raises(ConfigError, match="score space"):
        replace(cfg, score_space="latent").validate()


def test_a_file_without_regimes_is_flagged_without_asking():
    """The red-noise test of the data runs by default: red noise alone is flagged, the
    sample's planted regimes are not."""
    from dsc_core.data import load
    from dsc_core.data.synthetic import generated_case, make_case

    noise = load(make_case(replace(generated_case(12), years=(2000, 2001))))
    cfg = RunConfig(method="kmeans", clusters=4)
    warnings = run(cfg, data=noise).metrics["trust"]["warnings"]
    assert any("no more distinct than red noise" in w for w in warnings)
    year = dsc_core.sample(start="2021-01-01", end="2021-12-31")
    trust = run(cfg, data=year).metrics["trust"]
    structure = trust["structure"]
    null = np.asarray(structure["null"])
    assert len(null) == structure["n_surrogates"] == 39
    assert structure["percentile"] == pytest.approx(100 * (null < structure["statistic"]).mean())
    assert structure["percentile"] >= 95 and trust["warnings"] == []
