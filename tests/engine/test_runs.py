"""dsc_core.runs: save/load round trip, atomic saves, the run store."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core import runs as runs_mod
from dsc_core.composites import cluster_composites
from dsc_core.errors import DataError
from dsc_core.metrics import internal_scores, regime_stats
from dsc_core.pipeline import RunConfig
from dsc_core.runs import Run, RunStore, load_run, save_run


def make_run(n_time=40, k=3, seed=0) -> Run:
    rng = np.random.default_rng(seed)
    time_ = np.arange("2021-01-01", n_time, dtype="datetime64[D]").astype("datetime64[ns]")
    lat, lon = np.linspace(30, 35, 5), np.linspace(-30, -25, 6)
    fields = xr.Dataset(
        {
            "sst": (
                ("time", "latitude", "longitude"),
                rng.normal(size=(n_time, 5, 6)),
                {"units": "K"},
            ),
            "u10": (
                ("time", "latitude", "longitude"),
                rng.normal(size=(n_time, 5, 6)),
                {"units": "m s**-1"},
            ),
        },
        coords={"time": time_, "latitude": lat, "longitude": lon},
    ).astype(np.float32)
    mask = np.ones((5, 6), dtype=bool)
    mask[0, 0] = False
    fields["mask"] = (("latitude", "longitude"), mask)
    labels = rng.integers(0, k, n_time)
    soft = rng.dirichlet(np.ones(k), n_time).astype(np.float32)
    feats = fields["sst"].values.reshape(n_time, -1)
    config = RunConfig(clusters=k, method="kmeans", start="2021-01-01", seed=seed)
    return Run(
        config=config,
        labels=xr.DataArray(labels, dims="time", coords={"time": time_}, name="cluster"),
        latent=xr.DataArray(
            rng.normal(size=(n_time, 4)).astype(np.float32),
            dims=("time", "latent"),
            coords={"time": time_},
        ),
        soft=xr.DataArray(
            soft, dims=("time", "cluster"), coords={"time": time_, "cluster": np.arange(k)}
        ),
        composites=cluster_composites(fields, labels, n_clusters=k),
        metrics={
            "internal": internal_scores(np.nan_to_num(feats), labels),
            "regimes": regime_stats(labels, k),
            "fit_seconds": 0.5,
            "odd": np.float32(np.nan),
        },
        history=pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]}),
        fields=fields,
        preprocessor={"deseasonalize": True, "mean": [1.0, 2.0]},
    )


def test_round_trip(tmp_path):
    run = make_run()
    path = save_run(run, tmp_path / "r1")
    assert run.path == path and run.name == "r1"
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "labels.csv", "metrics.json", "latent.nc", "composites.nc"} <= names
    assert {"fields.nc", "history.csv", "preprocessor.json"} <= names
    assert not any(p.suffix in (".pkl", ".pickle") for p in path.rglob("*"))
    head = (path / "labels.csv").read_text().splitlines()
    assert head[0] == "time,cluster" and head[1].startswith("2021-01-01,") and len(head) == 41

    back = load_run(path)
    assert back.config == run.config
    assert (back.labels.values == run.labels.values).all()
    assert (back.labels["time"].values == run.labels["time"].values).all()
    xr.testing.assert_identical(back.composites, run.composites)
    xr.testing.assert_allclose(back.fields, run.fields)
    assert back.fields["mask"].dtype == bool
    np.testing.assert_array_equal(back.latent.values, run.latent.values)
    np.testing.assert_array_equal(back.soft.values, run.soft.values)
    expected = json.loads(json.dumps(runs_mod.jsonable(run.metrics)))
    assert back.metrics == expected and back.metrics["odd"] is None
    pd.testing.assert_frame_equal(back.history, run.history)
    assert back.preprocessor == run.preprocessor
    assert back.created == run.created
    with pytest.raises(DataError, match="no saved model"):
        _ = back.model


def test_save_replaces_a_run_but_not_other_folders(tmp_path):
    run = make_run()
    save_run(run, tmp_path / "r")
    other = make_run(seed=1)
    save_run(other, tmp_path / "r")
    assert (load_run(tmp_path / "r").labels.values == other.labels.values).all()
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(DataError, match="not a run directory"):
        save_run(run, tmp_path / "mine")


def test_interrupted_save_leaves_nothing_listed(tmp_path, monkeypatch):
    store = RunStore(tmp_path)

    def crash(ds, path):
        raise OSError("disk full")

    monkeypatch.setattr(runs_mod, "_write_netcdf", crash)
    with pytest.raises(OSError):
        store.save(make_run())
    assert store.list() == []
    assert list(tmp_path.iterdir()) == []
    # a hard crash (process killed) leaves a hidden temp dir or a folder without config.json
    (tmp_path / ".x.tmp-1234").mkdir()
    (tmp_path / ".x.tmp-1234" / "labels.csv").write_text("time,cluster\n")
    (tmp_path / "half").mkdir()
    assert store.list() == []
    with pytest.raises(DataError, match="not a complete run"):
        load_run(tmp_path / "half")


def test_store_list_save_load_delete(tmp_path):
    store = RunStore(tmp_path / "runs")
    assert store.list() == []
    a, b = make_run(), make_run(seed=1)
    b.created = a.created  # same second, same method and K: names must still differ
    pa, pb = store.save(a), store.save(b)
    assert pa != pb and a.name != b.name
    assert a.name.endswith("-kmeans-k3")
    listed = store.list()
    assert {s["name"] for s in listed} == {a.name, b.name}
    s = next(s for s in listed if s["name"] == a.name)
    assert s["method"] == "kmeans" and s["clusters"] == 3 and s["n_days"] == 40
    assert s["scores"]["rmse"] == pytest.approx(a.metrics["internal"]["rmse"])
    assert (store.load(b.name).labels.values == b.labels.values).all()
    store.delete(a.name)
    assert [s["name"] for s in store.list()] == [b.name]
    with pytest.raises(DataError):
        store.load(a.name)
    with pytest.raises(DataError, match="invalid run name"):
        store.delete("../etc")
