"""dsc_core.sweep: a sweep on a dask.distributed LocalCluster gives the serial runs' labels."""

import numpy as np
import pytest

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
    runs, summary = run_sweep(configs, tmp_path)  # 2 cores here: 2 worker processes
    for config, row in zip(configs, runs.itertuples(), strict=True):
        serial = run(config).labels.values
        np.testing.assert_array_equal(np.asarray(row.labels), serial)
        stored = load_run(tmp_path / "runs" / row.run)
        np.testing.assert_array_equal(stored.labels.values, serial)
    assert list(summary.index) == [("dsc", 2), ("dsc", 3)]
    assert summary["seed_agreement"].between(-1, 1).all()
    assert (tmp_path / "sweep.csv").read_text().startswith("method,K,seed,run")
    # the K summary also lies in the run store, where the app finds it
    assert (tmp_path / "runs" / "sweep-k.csv").read_text() == (tmp_path / "sweep-k.csv").read_text()


def test_summary_measures_agreement_between_seeds():
    import pandas as pd

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
