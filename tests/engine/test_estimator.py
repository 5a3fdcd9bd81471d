"""DSC estimator: fit / predict, determinism, events, cancel, save / load, bad parameters."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from tiny_data import tiny_days

from dsc_core.errors import Cancelled, ConfigError, DataError
from dsc_core.estimator import DSC
from dsc_core.training import Event

FAST = {"preset": "fast", "pretrain_epochs": 3, "max_epochs": 2, "batch_size": 16}
TWO_BLOCKS = np.concatenate(
    [np.arange("2001-01-01", "2001-01-21", dtype="datetime64[D]"),
     np.arange("2001-12-01", "2001-12-21", dtype="datetime64[D]")]
)  # fmt: skip
"""The dates of ``tiny_days()``'s 40 days as two blocks of 20 with a gap between them."""


@pytest.fixture(scope="module")
def fitted():
    x, mask, _ = tiny_days()
    return DSC(2, window=3, random_state=0, **FAST).fit(x, mask=mask), x


def test_fit_predict_shapes(fitted):
    model, x = fitted
    assert model.labels_.shape == (40,) and model.labels_.dtype == np.int64
    assert model.cluster_centers_.shape == (2, 8)
    assert model.transform(x).shape == (40, 8)
    q = model.soft_assignments(x)
    assert q.shape == (40, 2) and np.allclose(q.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x), model.labels_)
    assert model.n_features_in_ == 3 * 16 * 16 and model.window_ == 3
    assert {"phase", "epoch", "recon", "elapsed"} <= set(model.history_[0])


def test_pretraining_loss_decreases():
    x, mask, _ = tiny_days()
    model = DSC(2, random_state=1, **{**FAST, "pretrain_epochs": 6, "max_epochs": 0}).fit(
        x, mask=mask
    )
    recon = [row["recon"] for row in model.history_ if row["phase"] == "pretrain"]
    assert recon[-1] < recon[0]


def test_seeded_fits_identical(fitted):
    model, x = fitted
    _, mask, _ = tiny_days()
    again = DSC(2, window=3, random_state=0, **FAST).fit(x, mask=mask)
    np.testing.assert_array_equal(again.labels_, model.labels_)
    ours, theirs = model.model_.state_dict(), again.model_.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_save_load_round_trip(fitted, tmp_path):
    model, x = fitted
    model.save(tmp_path / "m")
    loaded = DSC.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.transform(x), model.transform(x))
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    assert loaded.get_params()["window"] == 3


def test_events_and_cancel():
    x, mask, _ = tiny_days()
    events: list[Event] = []
    DSC(2, random_state=0, callbacks=[events.append], **FAST).fit(x, mask=mask)
    phases = [e.phase for e in events]
    assert phases[0] == "pretrain" and "init" in phases and phases[-1] == "done"
    assert all(isinstance(e.losses, dict) and e.elapsed >= 0 for e in events)
    assert any(e.phase == "joint" and e.n_epochs == 2 for e in events)
    pre = [e for e in events if e.phase == "pretrain"]
    assert pre[-1].epoch == 3 and pre[-1].eta is not None and "recon" in pre[-1].losses

    def cancel(event: Event) -> None:
        if event.phase == "pretrain" and event.epoch == 2:
            raise Cancelled("stopped")

    model = DSC(2, random_state=0, callbacks=[cancel], **FAST)
    with pytest.raises(Cancelled):
        model.fit(x, mask=mask)
    assert not hasattr(model, "labels_") and not hasattr(model, "model_")
    with pytest.raises(NotFittedError):
        model.predict(x)


def test_window_reconstruction_standardized_round_trip(tmp_path):
    x, mask, _ = tiny_days()
    params = {"window": 3, "reconstruct": "window", "metric": "standardized", **FAST}
    model = DSC(2, random_state=0, **{**params, "max_epochs": 0}).fit(x, mask=mask)
    assert model.model_.decode(torch.zeros(1, 8)).shape == (1, 3, 3, 16, 16)
    scaled = model.model_.clustering.scaled(torch.from_numpy(model.transform(x)))
    assert torch.allclose(scaled.std(0), scaled.std(0)[0].expand(8), rtol=1e-2)
    model.save(tmp_path / "w")
    loaded = DSC.load(tmp_path / "w")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_windows_stop_at_gaps_in_time():
    """With dates, a day's latent never depends on a day across a gap; without, it does."""
    x, mask, _ = tiny_days()
    time = TWO_BLOCKS
    model = DSC(2, window=3, random_state=0, **FAST).fit(x, mask=mask, time=time)
    changed = x.copy()
    changed[20] += 5.0  # first day of the second block
    before, after = model.transform(x, time=time), model.transform(changed, time=time)
    np.testing.assert_array_equal(before[19], after[19])  # last day of the first block
    assert not np.allclose(before[21], after[21])
    naive = model.transform(changed)  # as if the days were consecutive
    assert not np.allclose(model.transform(x)[19], naive[19])


def test_an_xarray_input_s_dates_stop_the_windows_at_its_gaps():
    import xarray as xr

    x, mask, _ = tiny_days()
    time = TWO_BLOCKS
    da = xr.DataArray(x, dims=("time", "variable", "y", "x"), coords={"time": time})
    model = DSC(2, window=3, random_state=0, **FAST).fit(da, mask=mask)
    explicit = DSC(2, window=3, random_state=0, **FAST).fit(x, mask=mask, time=time)
    np.testing.assert_array_equal(model.labels_, explicit.labels_)
    np.testing.assert_array_equal(model.transform(da), explicit.transform(x, time=time))
    assert not np.allclose(model.transform(da), model.transform(x))  # x alone: no gaps


def test_clusters_that_follow_the_years_make_dsc_train_again_without_each_year_s_mean(tmp_path):
    """Three winters, each with a large anomaly of its own over two recurring patterns: the
    first clusters are the winters; DSC trains again on the days less each winter's mean,
    labels new days the same way, and keeps that through save / load."""
    from dsc_core.trust import year_agreement

    x, mask, truth = tiny_days(n=60)
    time = np.concatenate(
        [np.arange(f"{y}-12-01", f"{y}-12-21", dtype="datetime64[D]") for y in (2000, 2001, 2002)]
    )
    winters = np.repeat(np.arange(3), 20)
    offsets = 6 * np.random.default_rng(1).normal(size=(3, 3, 16, 16)).astype(np.float32)
    warm = x + offsets[winters] * mask
    model = DSC(3, window=3, random_state=0, **FAST).fit(warm, mask=mask, time=time)
    assert model.years_removed_ >= 0.5  # the first clusters were the winters
    assert year_agreement(model.labels_, time) < 0.5
    np.testing.assert_array_equal(model.predict(warm, time=time), model.labels_)
    model.save(tmp_path / "m")
    loaded = DSC.load(tmp_path / "m")
    assert loaded.years_removed_ == model.years_removed_
    np.testing.assert_array_equal(loaded.predict(warm, time=time), model.labels_)
    plain = DSC(3, window=3, random_state=0, **FAST).fit(x, mask=mask, time=time)
    assert plain.years_removed_ is None  # clusters that do not follow the winters stay


@pytest.mark.parametrize("metric", ["field", "mixture", "field-mixture", "consensus"])
def test_every_metric_finds_the_patterns(metric):
    from sklearn.metrics import adjusted_rand_score

    x, mask, truth = tiny_days(n=60)
    assert DSC(2)._resolved().metric == "consensus"  # the default, chosen on the suite
    model = DSC(2, window=3, metric=metric, random_state=0, **FAST).fit(x, mask=mask)
    assert not torch.allclose(model.model_.clustering.metric, torch.eye(8))  # fitted
    assert adjusted_rand_score(truth, model.labels_) > 0.9
    head = model.head_
    if metric == "consensus":
        votes = head["agreement"]
        assert set(votes) == {"latent", "mixture", "field", "field-mixture", "input"}
        assert head["metric"] == "consensus"
    else:
        assert head == {"metric": metric, "agreement": None}
    with pytest.raises(ConfigError, match="unknown metric"):
        DSC(2, metric="cosine", **FAST).fit(x, mask=mask)


def test_a_start_from_given_labels_whitens_the_within_cluster_spread():
    from dsc_core.training import start_from_labels

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 50)
    spread = np.diag([5.0, 0.2, 0.2, 0.2])  # noise large along one axis, regimes along two
    z = rng.normal(size=(150, 4)) @ spread + np.eye(4)[labels + 1]
    start = start_from_labels(torch.as_tensor(z, dtype=torch.float32), labels, 3)
    s = ((torch.as_tensor(z, dtype=torch.float32) - start.shift) @ start.scale).numpy()
    within = np.concatenate([s[labels == k] - s[labels == k].mean(0) for k in range(3)])
    variances = within.var(0)
    assert variances.max() / variances.min() < 1.5  # one scale in every direction
    assert start.metric == "input" and start.centres.shape == (3, 4)
    nearest = ((s[:, None] - start.centres.numpy()[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == labels).mean() > 0.95


def test_the_consensus_partition_puts_together_what_most_partitions_do():
    from sklearn.metrics import adjusted_rand_score

    from dsc_core.training import consensus_partition

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    relabelled = (truth + 1) % 3  # the same partition under other names
    blurred = np.where(rng.random(300) < 0.2, rng.integers(0, 3, 300), truth)
    unrelated = rng.integers(0, 3, 300)
    found = consensus_partition([relabelled, blurred, unrelated, truth], 3, seed=0)
    assert adjusted_rand_score(truth, found) == 1.0
    assert adjusted_rand_score(truth, blurred) < 0.8  # the consensus is not one of the ballots


def test_the_consensus_head_starts_from_the_candidates_and_inputs_partition():
    from sklearn.metrics import adjusted_rand_score

    from dsc_core.training import InputClusters, initial_clusters

    rng = np.random.default_rng(0)
    noise_mode, regimes = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    # two structures: a large one in dims 0-1 that raw distances follow, a small one in dim 2
    z = np.c_[8.0 * noise_mode, 8.0 * noise_mode, 2.0 * regimes] + rng.normal(size=(200, 3))
    z = torch.as_tensor(z, dtype=torch.float32)
    voters = [regimes, regimes.copy()]
    start = initial_clusters(
        z, "consensus", 2, 0, inputs=InputClusters(candidate=regimes, voters=voters)
    )
    latent = initial_clusters(z, "latent", 2, 0).labels
    assert adjusted_rand_score(noise_mode, latent) == 1.0  # one candidate follows the noise
    assert start.metric == "consensus"
    assert adjusted_rand_score(regimes, start.labels) == 1.0  # the majority wins
    votes = start.agreement  # the candidates' agreement with each other: the trust check's
    assert set(votes) == {"latent", "mixture", "input"}
    candidates = {"latent": latent, "mixture": initial_clusters(z, "mixture", 2, 0).labels,
                  "input": regimes}  # fmt: skip
    for k, vote in votes.items():
        others = [adjusted_rand_score(candidates[k], v) for j, v in candidates.items() if j != k]
        assert vote == pytest.approx(np.mean(others))


@pytest.mark.parametrize("variant", ["cnn-encoder", "cnn-ae", "cnn-rnn-encoder", "cnn-rnn-ae"])
def test_variants_run(variant):
    x, mask, _ = tiny_days()
    model = DSC(2, variant=variant, window=3, random_state=0, **FAST).fit(x, mask=mask)
    assert model.labels_.shape == (40,)
    assert model.window_ == (3 if "rnn" in variant else 1)


@pytest.mark.parametrize(
    "params",
    [
        {"n_clusters": 0},
        {"n_clusters": 41},
        {"preset": "huge"},
        {"variant": "dtc"},
        {"device": "tpu"},
        {"window": 4},
        {"rnn": "transformer"},
        {"reconstruct": "both"},
        {"learning_rate": 0},
    ],
)
def test_bad_params(params):
    x, mask, _ = tiny_days()
    with pytest.raises(ConfigError) as err:
        DSC(**{"n_clusters": 2, **FAST, **params}).fit(x, mask=mask)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_unavailable_cuda_is_config_error():
    x, mask, _ = tiny_days()
    with pytest.raises(ConfigError, match="not available"):
        DSC(2, device="cuda", **FAST).fit(x, mask=mask)


def test_bad_input():
    x, mask, _ = tiny_days()
    with pytest.raises(DataError):
        DSC(2, **FAST).fit(x[0], mask=mask)
    with pytest.raises(DataError):
        DSC(2, **FAST).fit(x, mask=mask[:8])
    with pytest.raises(ConfigError, match="pass the grid mask as mask="):
        DSC(2, **FAST).fit(x, mask)  # the mask in y's place


def test_a_time_budget_ends_the_phases_early():
    x, mask, _ = tiny_days()
    params = {**FAST, "pretrain_epochs": 50, "max_epochs": 50, "tol": 0.0}
    model = DSC(2, random_state=0, max_minutes=1e-4, **params).fit(x, mask=mask)  # 6 ms
    phases = [row["phase"] for row in model.history_]
    assert phases.count("pretrain") == 1 and phases.count("joint") == 1
    assert all(row.get("budget") == 1 for row in model.history_)
    assert model.labels_.shape == (len(x),)
    with pytest.raises(ConfigError, match="max_minutes"):
        DSC(2, max_minutes=0, **FAST).fit(x, mask=mask)


def test_bf16_mixed_precision_trains_and_finds_the_split():
    x, mask, truth = tiny_days()
    params = {**FAST, "pretrain_epochs": 6, "max_epochs": 3}
    model = DSC(2, window=3, random_state=0, precision="bf16", **params).fit(x, mask=mask)
    assert np.isfinite([row["recon"] for row in model.history_]).all()
    assert abs(np.corrcoef(model.labels_, truth)[0, 1]) > 0.9
    with pytest.raises(ConfigError, match="precision"):
        DSC(2, precision="8", **FAST).fit(x, mask=mask)
