"""A saved run labels new data (Run.assign, `dsc assign`); two runs compared (`dsc compare`)."""

import numpy as np
import pytest

import dsc_core
from dsc_core.cli import main
from dsc_core.errors import DataError
from dsc_core.pipeline import RunConfig, run
from dsc_core.runs import load_run, save_run

BBOX = (35.0, 38.0, -30.0, -27.0)


@pytest.fixture(scope="module")
def year():
    return dsc_core.sample(start="2021-01-01", end="2021-12-31")


@pytest.fixture(scope="module")
def saved(year, tmp_path_factory):
    cfg = RunConfig(clusters=3, method="dsc", preset="fast", bbox=BBOX, device="cpu",
                    params={"pretrain_epochs": 2, "max_epochs": 1}, min_spell=2)  # fmt: skip
    first_half = year.sel(time=slice("2021-01-01", "2021-06-30"))
    return save_run(run(cfg, data=first_half), tmp_path_factory.mktemp("runs") / "dsc")


def test_assign_relabels_the_training_days_and_labels_new_ones(saved, year):
    r = load_run(saved)
    again = r.assign(year.sel(time=slice("2021-01-01", "2021-06-30")))
    np.testing.assert_array_equal(again.values, r.labels.values)
    new = r.assign(year, start="2021-07-01", end="2021-12-31")
    assert new.sizes["time"] == 184 and set(np.unique(new.values)) <= {0, 1, 2}
    spells = np.diff(np.flatnonzero(np.diff(np.r_[-1, new.values, -1]) != 0))
    assert spells.min() >= 2  # the run's minimum spell applies


def test_assign_refuses_other_units_or_grid(saved, year):
    r = load_run(saved)
    other_units = year.copy()
    other_units["t2m"] = (year["t2m"] - 273.15).assign_attrs(units="degC")
    with pytest.raises(DataError, match="'t2m' is in 'degC'"):
        r.assign(other_units)
    r.config.bbox = (35.0, 39.0, -30.0, -27.0)  # a bigger box: another grid
    with pytest.raises(DataError, match="grid differs"):
        r.assign(year)


def test_cli_assign_and_compare(saved, tmp_path, capsys):
    out = tmp_path / "new.csv"
    argv = ["assign", "--run", str(saved), "--data", "sample", "--out", str(out)]
    assert main([*argv, "--start", "2021-07-01", "--end", "2021-07-31"]) == 0
    lines = out.read_text().splitlines()
    assert (
        lines[0] == "time,cluster"
        and len(lines) == 32
        and "31 days labelled" in (capsys.readouterr().out)
    )
    assert main(["assign", "--run", str(tmp_path), "--data", "sample", "--out", "x.csv"]) == 2
    assert capsys.readouterr().err.startswith("error: ")

    kmeans = tmp_path / "kmeans"
    select = ["--start", "2021-01-01", "--end", "2021-06-30", "--bbox", "35,38,-30,-27"]
    assert main(["train", *select, "--method", "kmeans", "--clusters", "3", "--quiet",
                 "--out", str(kmeans)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["compare", str(saved), str(kmeans)]) == 0
    text = capsys.readouterr().out
    assert "181 shared days, adjusted Rand index" in text and "A 0 ↔ B" in text
    table = [line.split()[1:] for line in text.splitlines() if line.startswith("    ")]
    assert sum(int(n) for row in table[:3] for n in row) == 181


def test_assign_on_a_winter_run_labels_new_winter_days(tmp_path):
    """A DJF run (its days in two blocks, a gap between February and December) labels the
    winter days of another year with its model, and gives its own days back their labels."""
    data = dsc_core.sample(start="2021-01-01", end="2022-02-28")
    cfg = RunConfig(clusters=3, method="dsc", preset="fast", bbox=BBOX, device="cpu",
                    variables=["t2m"], end="2021-12-31", months="DJF",
                    params={"pretrain_epochs": 1, "max_epochs": 1})  # fmt: skip
    r = load_run(save_run(run(cfg, data=data), tmp_path / "winter"))
    assert r.n_days == 31 + 28 + 31  # January, February and December 2021
    again = r.assign(data, end="2021-12-31")
    np.testing.assert_array_equal(again["time"].values, r.labels["time"].values)
    np.testing.assert_array_equal(again.values, r.labels.values)
    # the model's windows stop at the gap: December is labelled as if it were alone
    december = r.assign(data, start="2021-12-01", end="2021-12-31")
    np.testing.assert_array_equal(december.values, r.labels.sel(time="2021-12").values)
    new = r.assign(data, start="2022-01-01")
    days = np.arange("2022-01-01", "2022-03-01", dtype="datetime64[D]")
    np.testing.assert_array_equal(new["time"].values, days.astype("datetime64[ns]"))
    assert set(np.unique(new.values)) <= {0, 1, 2}
