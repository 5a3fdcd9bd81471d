"""dsc_core.choose_k: the measures per K on planted groups, end to end, and the CLI."""

import time
from dataclasses import replace

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import dsc_core
from dsc_core.baselines import make_estimator
from dsc_core.choose_k import choose_k, classifiability, parse_ks, scores_for_k
from dsc_core.cli import main
from dsc_core.errors import ConfigError
from dsc_core.pipeline import RunConfig, prepare


def blobs(k=3, n=300, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(k, dim))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, dim))


def partitions(x, k, seeds=3):
    return [KMeans(k, n_init=1, random_state=s).fit_predict(x) for s in range(seeds)]


def test_the_planted_k_stands_out():
    x = blobs()
    rows = {k: scores_for_k(x, partitions(x, k), k) for k in (2, 3, 4, 5)}
    assert max(rows, key=lambda k: rows[k]["silhouette"]) == 3
    assert rows[3]["seed_agreement"] == pytest.approx(1.0)
    assert rows[3]["classifiability"] > 0.99
    explained = [rows[k]["variance_explained"] for k in (2, 3, 4, 5)]
    assert (
        explained == sorted(explained) and explained[1] - explained[0] > explained[3] - explained[2]
    )


def test_classifiability_is_low_for_noise():
    x = np.random.default_rng(1).normal(size=(300, 20))
    means = [np.stack([x[p == c].mean(0) for c in range(4)]) for p in partitions(x, 4)]
    assert classifiability(means) < 0.9
    assert classifiability([means[0], means[0]]) == pytest.approx(1.0)


def test_choose_k_end_to_end_on_the_sample():
    data = dsc_core.sample(start="2021-01-01", end="2021-06-30")
    cfg = RunConfig(method="kmeans", bbox=(35.0, 38.0, -30.0, -27.0), months="MAM")
    table = choose_k(cfg, [2, 3], seeds=2, data=data)
    assert list(table.index) == [2, 3]
    assert set(table.columns) >= {"seed_agreement", "classifiability", "silhouette",
                                  "variance_explained"}  # fmt: skip
    # the same fits on the same preprocessed days give the numbers of the table
    days = prepare(replace(cfg, clusters=3), data)
    x = days.X[:, :, days.mask].reshape(len(days.X), -1).astype(np.float64)
    total = ((x - x.mean(0)) ** 2).sum()
    for k in (2, 3):
        fits = [make_estimator("kmeans", k, random_state=seed).fit(days.X, mask=days.mask)
                for seed in (0, 1)]  # fmt: skip
        first, second = (np.asarray(f.labels_) for f in fits)
        assert table.loc[k, "seed_agreement"] == pytest.approx(adjusted_rand_score(first, second))
        explained = [1 - sum(((x[p == c] - x[p == c].mean(0)) ** 2).sum() for c in range(k)) / total
                     for p in (first, second)]  # fmt: skip
        assert table.loc[k, "variance_explained"] == pytest.approx(np.mean(explained))
    with pytest.raises(ConfigError, match="at least 2"):
        choose_k(cfg, [2], seeds=1, data=data)


def test_a_time_budget_keeps_the_ks_measured_in_full_by_then():
    """Each fit is made to take ~0.3 s (a slow progress report): a 1.2 s budget measures K=2
    (two fits), not all five K's, and drops the K it was in the middle of."""
    data = dsc_core.sample(start="2021-03-01", end="2021-05-31")
    cfg = RunConfig(method="kmeans", bbox=(35.0, 38.0, -30.0, -27.0))
    heard = []

    def slow(message):
        heard.append(message)
        time.sleep(0.3)

    table = choose_k(cfg, [2, 3, 4, 5, 6], seeds=2, data=data, progress=slow, max_minutes=0.02)
    assert 1 <= len(table) < 5 and list(table.index) == [2, 3, 4, 5, 6][: len(table)]
    assert table.attrs["unmeasured"] == [2, 3, 4, 5, 6][len(table) :]
    assert heard[-1].startswith("time budget of 0.02 min reached")
    with pytest.raises(ConfigError, match="ran out before K=2 was measured with 3 seeds"):
        choose_k(cfg, [2, 3], seeds=3, data=data, progress=slow, max_minutes=0.005)


def test_a_training_that_runs_past_the_time_budget_is_stopped():
    data = dsc_core.sample(start="2021-03-01", end="2021-05-31")
    cfg = RunConfig(method="dsc", bbox=(35.0, 38.0, -30.0, -27.0), preset="fast",
                    params={"pretrain_epochs": 10_000})  # fmt: skip
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="time budget of 0.05 min ran out"):
        choose_k(cfg, [2], seeds=2, data=data, max_minutes=0.05)
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("text, ks", [("2-4", [2, 3, 4]), ("5,3", [3, 5])])
def test_parse_ks(text, ks):
    assert parse_ks(text) == ks


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--clusters", "1-3"], "error: --clusters '1-3' must be a range"),
        (["--total-minutes", "0"], "error: the time budget must be a positive number of minutes:"),
        (["--total-minutes", "ten"], "error: --total-minutes"),
    ],
)
def test_cli_refuses_bad_ks_and_budgets(args, named, capsys):
    assert main(["choose-k", "--method", "kmeans", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(named) and err.count("\n") == 1
