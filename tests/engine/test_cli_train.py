"""`dsc train` and `dsc benchmark` end to end; bad arguments give one line and exit 2."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from dsc_core.baselines import make_estimator
from dsc_core.cli import main
from dsc_core.pipeline import RunConfig, prepare
from dsc_core.trust import trust_checks

SELECT = ["--data", "sample", "--start", "2021-01-01", "--end", "2021-03-31"]
SELECT += ["--bbox", "35,38,-30,-27"]


def stored_labels(run_dir):
    return pd.read_csv(run_dir / "labels.csv")["cluster"].to_numpy()


def test_train_writes_every_file(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["train", *SELECT, "--clusters", "3", "--method", "kmeans", "--quiet"] + ["--out", str(out)]
    )
    assert code == 0
    files = {p.name for p in out.iterdir()}
    expected = {"config.json", "labels.csv", "metrics.json", "latent.nc", "composites.nc"}
    expected |= {"fields.zarr", "field_sums.nc", "history.csv", "preprocessor.json"}
    assert expected <= files
    stdout = capsys.readouterr().out
    assert "written to" in stdout and "ARI" in stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["clusters"] == 3 and cfg["config"]["deseasonalize"] is True
    assert len((out / "labels.csv").read_text().splitlines()) == 91

    winter = tmp_path / "winter"
    argv = ["train", *SELECT, "--months", "1,2", "--clusters", "3", "--method", "kmeans"]
    assert main([*argv, "--quiet", "--out", str(winter)]) == 0
    assert "59 days (1,2)" in capsys.readouterr().out
    assert json.loads((winter / "config.json").read_text())["config"]["months"] == [1, 2]
    assert len((winter / "labels.csv").read_text().splitlines()) == 60


def test_train_reports_trust_beside_kmeans(tmp_path, capsys):
    """--check-stability fits seed + 1 of the method and of k-means; metrics.json keeps it."""
    out = tmp_path / "run"
    argv = ["train", *SELECT, "--clusters", "3", "--method", "pca-gmm", "--quiet"]
    assert main([*argv, "--check-stability", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "seed agreement" in stdout and "agreement with kmeans" in stdout
    assert "data vs red noise: k-means clusters above" in stdout
    trust = json.loads((out / "metrics.json").read_text())["trust"]
    assert set(trust["agreement"]) == {"kmeans"}  # the run is PCA + GMM itself
    structure = trust["structure"]
    null = np.asarray(structure["null"])
    assert structure["n_surrogates"] == len(null) == 39
    assert structure["percentile"] == pytest.approx(100 * (null < structure["statistic"]).mean())
    assert main([*argv, "--seed", "1", "--out", str(tmp_path / "seed1")]) == 0
    assert "add --check-stability" in capsys.readouterr().out
    # the numbers reported are those of the labels: this run's and seed 1's stored ones, and
    # k-means' with seeds 0 and 1 on the same preprocessed days
    labels, again = stored_labels(out), stored_labels(tmp_path / "seed1")
    assert trust["seed_agreement"] == pytest.approx(adjusted_rand_score(labels, again))
    config = RunConfig.from_dict(json.loads((out / "config.json").read_text())["config"])
    days = prepare(config)
    kmeans = [make_estimator("kmeans", 3, random_state=seed).fit(days.X, mask=days.mask).labels_
              for seed in (0, 1)]  # fmt: skip
    assert trust["agreement"]["kmeans"] == pytest.approx(adjusted_rand_score(kmeans[0], labels))
    assert trust["kmeans_seed_agreement"] == pytest.approx(adjusted_rand_score(*kmeans))
    expected = trust_checks("pca-gmm", labels, {"kmeans": kmeans[0]}, structure, again,
                            {"kmeans": kmeans[1]})  # fmt: skip
    assert trust["warnings"] == expected["warnings"]
    assert stdout.count("WARNING: ") == len(trust["warnings"])
    for warning in trust["warnings"]:
        assert f"WARNING: {warning}" in stdout


def test_train_warns_that_red_noise_has_no_regimes(tmp_path, capsys):
    """A file of pure red noise (AR(1) in every cell, no regimes): the run is written, and the
    structure test's warning is printed and stored, with the numbers of its stored null."""
    import xarray as xr

    rng = np.random.default_rng(1)
    noise = np.zeros((90, 6, 6))
    for t in range(1, 90):
        noise[t] = 0.7 * noise[t - 1] + rng.normal(size=(6, 6))
    coords = {
        "time": pd.date_range("2021-01-01", periods=90),
        "latitude": np.arange(40.0, 34.0, -1),
        "longitude": np.arange(-30.0, -24.0),
    }
    t2m = (("time", "latitude", "longitude"), 280 + noise.astype(np.float32), {"units": "K"})
    xr.Dataset({"t2m": t2m}, coords=coords).to_netcdf(tmp_path / "noise.nc")
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "noise.nc"), "--method", "kmeans", "--clusters", "3"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    trust = json.loads((out / "metrics.json").read_text())["trust"]
    structure = trust["structure"]
    percentile = 100 * (np.asarray(structure["null"]) < structure["statistic"]).mean()
    assert structure["percentile"] == pytest.approx(percentile) and percentile < 95
    (warning,) = trust["warnings"]
    assert warning == (
        "the data's clusters are no more distinct than red noise's (k-means on the leading 10 "
        f"principal components beats {percentile:.0f} % of 39 red-noise surrogates; 95 % "
        "needed): there may be no regimes in this selection, and the clusters may be noise. "
        "Try other variables, a season, or fewer clusters."
    )
    assert stdout.rstrip().endswith(f"WARNING: {warning}") and stdout.count("WARNING") == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (["--clusters", "1"], "clusters"),
        (["--clusters", "x"], "--clusters must be an integer"),
        (["--clusters", "3", "--method", "nope"], "unknown method"),
        (["--clusters", "3", "--preset", "nope"], "unknown preset"),
        (["--clusters", "3", "--device", "tpu"], "unknown device"),
        (["--clusters", "3", "--bbox", "1,2"], "--bbox"),
        (["--clusters", "3", "--months", "13"], "use e.g. DJF"),
        (["--clusters", "3", "--min-spell", "0"], "min_spell"),
        (["--clusters", "3", "--months", "JJA", "--quiet"], "no day of JJA"),
        (["--clusters", "3", "--threads", "0"], "--threads must be at least 1"),
        (["--clusters", "3", "--threads", "two"], "--threads must be an integer"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, match):
    assert main(["train", *SELECT, *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_more_clusters_than_days(tmp_path, capsys):
    args = ["train", *SELECT, "--end", "2021-01-03", "--clusters", "4", "--method", "kmeans"]
    assert main([*args, "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: fewer days than clusters") and "\n" not in err


def test_bad_arguments_in_a_subprocess_give_no_traceback(tmp_path):
    cmd = [sys.executable, "-c", "import sys; from dsc_core.cli import main; sys.exit(main())"]
    cmd += ["train", "--clusters", "1", "--out", str(tmp_path / "r")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: clusters")
    assert not (tmp_path / "r").exists()


def test_benchmark_two_methods_two_seeds(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(
        ["benchmark", *SELECT, "--clusters", "3", "--methods", "kmeans,pca-gmm"]
        + ["--seeds", "2", "--out", str(out)]
    )
    assert code == 0
    result = json.loads((out / "benchmark.json").read_text())
    assert list(result["methods"]) == ["kmeans", "pca-gmm"] and result["complete"]
    km = result["methods"]["kmeans"]
    assert len(km["runs"]) == 2
    assert set(km["summary"]) >= {"ari", "nmi", "silhouette_cosine", "seconds", "stability"}
    assert km["summary"]["ari"]["n"] == 2
    table = (out / "benchmark.md").read_text()
    assert table.startswith("| method |") and "| pca-gmm |" in table and "±" in table
    assert "| kmeans |" in capsys.readouterr().out


def test_train_picks_a_level_of_a_multi_level_file(tmp_path, capsys):
    import xarray as xr

    import dsc_core

    t2m = dsc_core.sample(start="2021-01-01", end="2021-02-28")["t2m"]
    levels = xr.DataArray([500.0, 850.0], dims="pressure_level", name="pressure_level")
    two = xr.concat([t2m, t2m + 5], dim=levels).transpose("time", "pressure_level", ...)
    xr.Dataset({"t": two.assign_attrs(units="K")}).to_netcdf(tmp_path / "pl.nc")
    argv = ["train", "--data", str(tmp_path / "pl.nc"), "--method", "kmeans", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    assert "2 levels on 'pressure_level'" in capsys.readouterr().err
    assert main([*argv, "--level", "850", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"]["level"] == 850.0


def test_benchmark_paper_table_beside_the_papers_figures(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["benchmark", *SELECT, "--clusters", "3", "--methods", "kmeans,agglomerative"]
    argv += ["--seeds", "1", "--paper-table", "--score-space", "paper", "--out", str(out)]
    assert main(argv) == 0
    table = (out / "benchmark-paper.md").read_text()
    assert "| k-means | " in table and "(0.254)" in table and "(1.687)" in table
    assert "| DTC (not implemented here) | — (0.282)" in table
    assert "raw fields, as the paper" in table and "Ranking by silhouette (cos)" in table
    assert "ARI vs truth" in capsys.readouterr().out
    result = json.loads((out / "benchmark.json").read_text())
    assert result["config"]["score_space"] == "paper"
    assert main([*argv[:-1], str(tmp_path / "x"), "--score-space", "raw"]) == 2
    assert "unknown score space 'raw'" in capsys.readouterr().err


def test_training_uses_the_threads_it_is_given(monkeypatch, tmp_path, capsys):
    """Torch trains on the process's threads by default (every core, unless the process is
    limited) and on N with --threads N (the numerical libraries' limit, which torch follows)."""
    import torch

    import dsc_core.training

    seen = []
    train = dsc_core.training.train

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return train(*args, **kwargs)

    monkeypatch.setattr(dsc_core.training, "train", recording)
    monkeypatch.setattr("dsc_core.estimator.train", recording)
    args = ["train", *SELECT, "--clusters", "3", "--preset", "fast", "--max-minutes", "0.02",
            "--quiet"]  # fmt: skip
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the suite runs on one thread (tests/conftest.py)
    try:
        assert main([*args, "--threads", "1", "--out", str(tmp_path / "a")]) == 0
        assert main([*args, "--out", str(tmp_path / "b")]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen[0] == 1 and seen[-1] == 2  # --threads 1, then the process's own two threads
