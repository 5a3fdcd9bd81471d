"""dsc_core.sweep: a sweep on a dask.distributed LocalCluster gives the serial runs' labels."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from dsc_core.cli import main
from dsc_core.errors import ConfigError
from dsc_core.pipeline import RunConfig, run
from dsc_core.runs import load_run
from dsc_core.sweep import run_sweep, summarise, sweep_configs

BASE = RunConfig(
    start="2021-01-01", end="2021-03-31", bbox=(35.0, 38.0, -30.0, -27.0), preset="fast",
    device="cpu", params={"pretrain_epochs": 2, "max_epochs": 2},
)  # fmt: skip


@pytest.mark.timeout(300)
def test_a_local_cluster_sweep_matches_the_serial_runs(tmp_path):
    configs = sweep_configs(BASE, [2, 3], ["dsc"], seeds=2)
    assert [(c.clusters, c.seed) for c in configs] == [(2, 0), (2, 1), (3, 0), (3, 1)]
    configs = configs[:2]  # K = 2, two seeds: enough to compare, half the time
    runs, summary = run_sweep(configs, tmp_path)  # 2 cores here: 2 worker processes
    for config, row in zip(configs, runs.itertuples(), strict=True):
        serial = run(config).labels.values
        np.testing.assert_array_equal(np.asarray(row.labels), serial)
        stored = load_run(tmp_path / "runs" / row.run)
        np.testing.assert_array_equal(stored.labels.values, serial)
    assert list(summary.index) == [("dsc", 2)]
    first, second = (load_run(tmp_path / "runs" / name).labels.values for name in runs["run"])
    agreement = summary.loc[("dsc", 2), "seed_agreement"]  # the ARI of the stored labels
    assert agreement == pytest.approx(adjusted_rand_score(first, second))
    assert (tmp_path / "sweep.csv").read_text().startswith("method,K,seed,run")
    # the K summary also lies in the run store, where the app finds it
    assert (tmp_path / "runs" / "sweep-k.csv").read_text() == (tmp_path / "sweep-k.csv").read_text()


def test_summary_measures_agreement_between_seeds():
    runs = pd.DataFrame({
        "method": ["m"] * 3, "K": [2] * 3, "seed": [0, 1, 2], "run": ["a", "b", "c"],
        "labels": [[0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]], "ari": [None] * 3,
        "silhouette_cosine": [0.5] * 3, "davies_bouldin": [1.0] * 3,
        "frequency": [[0.5, 0.5]] * 3, "fit_seconds": [1.0] * 3,
    })  # fmt: skip
    row = summarise(runs).loc[("m", 2)]
    assert row["seed_agreement"] == pytest.approx((1.0 - 0.5 - 0.5) / 3)
    assert row["frequencies"] == "50% 50%" and "ari" not in row


def test_bad_sweeps_are_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="seeds"):
        sweep_configs(BASE, [2], ["kmeans"], seeds=0)
    assert main(["sweep", "--methods", "kmeans,nope", "--out", str(tmp_path)]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_sweep_runs_its_tasks_on_the_scheduler_it_is_given(tmp_path, capsys, monkeypatch):
    """`dsc sweep --scheduler ADDRESS`: the tasks go to that scheduler's workers (an in-process
    LocalCluster here) and no cluster of the sweep's own is started."""
    import distributed
    from distributed import LocalCluster

    def no_cluster_of_its_own(*args, **kwargs):
        raise AssertionError("the sweep started a LocalCluster although given a scheduler")

    select = ["--start", "2021-01-01", "--end", "2021-01-31", "--bbox", "35,38,-30,-27"]
    argv = ["sweep", "--data", "sample", *select, "--methods", "kmeans", "--clusters", "2",
            "--seeds", "2", "--out", str(tmp_path)]  # fmt: skip
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:  # fmt: skip
        monkeypatch.setattr(distributed, "LocalCluster", no_cluster_of_its_own)
        assert main([*argv, "--scheduler", cluster.scheduler_address]) == 0
        assert "run_task" in cluster.scheduler.task_prefixes  # the sweep's tasks ran there
    stdout = capsys.readouterr().out
    assert f"written: {tmp_path}/sweep.csv" in stdout
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert table[["method", "K", "seed"]].values.tolist() == [["kmeans", 2, 0], ["kmeans", 2, 1]]
    first, second = (load_run(tmp_path / "runs" / name) for name in table["run"])
    assert (first.config.seed, second.config.seed) == (0, 1) and first.n_days == 31
    summary = pd.read_csv(tmp_path / "sweep-k.csv").set_index(["method", "K"])
    agreement = adjusted_rand_score(first.labels.values, second.labels.values)
    assert summary.loc[("kmeans", 2), "seed_agreement"] == pytest.approx(agreement)
