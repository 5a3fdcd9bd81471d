"""dsc_core.runs: save/load round trip, atomic saves, the run store."""

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsc_core import composites
from dsc_core import runs as runs_mod
from dsc_core.composites import cluster_composites, composite_of_days
from dsc_core.errors import DataError
from dsc_core.metrics import internal_scores, regime_stats
from dsc_core.pipeline import RunConfig
from dsc_core.runs import Run, RunStore, load_run, save_run

ROOT = Path(__file__).resolve().parents[2]


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
    assert {"fields.zarr", "field_sums.nc", "history.csv", "preprocessor.json"} <= names
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


def test_fields_read_lazily_in_chunks_of_any_length_are_saved(tmp_path):
    """A long record's fields come dask-backed, chunked as its files were (a year and a part
    of the grid a chunk, each variable its own way): they are written in blocks that line up
    with the store's chunks of days."""
    run = make_run()
    eager = run.fields
    lazy = eager.chunk({"time": 7, "latitude": 2})
    run.fields = lazy.assign(u10=eager["u10"].chunk({"time": 11, "longitude": 4}))
    back = load_run(save_run(run, tmp_path / "lazy"))
    xr.testing.assert_allclose(back.fields, eager)


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


@pytest.mark.parametrize(
    "damage",
    [{"scores": {"ari": "x"}}, {"created": 5}, {"clusters": "3"}, {"scores": [1]}, [1, 2]],
)
def test_a_run_with_a_damaged_summary_is_skipped_not_fatal(tmp_path, damage, caplog):
    store = RunStore(tmp_path)
    good, bad = make_run(), make_run(seed=1)
    store.save(good), store.save(bad)
    config = json.loads((bad.path / "config.json").read_text())
    config["summary"] = damage if isinstance(damage, list) else {**config["summary"], **damage}
    (bad.path / "config.json").write_text(json.dumps(config))
    assert [s["name"] for s in store.list()] == [good.name]
    assert f"skipping run {bad.name}" in caplog.text


def test_symbolic_links_in_the_run_store_are_neither_listed_nor_loaded(tmp_path, caplog):
    """A run folder that is a link to another folder, or a run file linked to a file outside
    the store, would read (and a UMAP cache write) outside it: the store refuses both."""
    store, outside = RunStore(tmp_path / "runs"), tmp_path / "outside"
    good, linked_file = make_run(), make_run(seed=1)
    store.save(good), store.save(linked_file)
    save_run(make_run(seed=2), outside / "elsewhere")
    (outside / "secret.nc").write_bytes((linked_file.path / "composites.nc").read_bytes())
    (linked_file.path / "composites.nc").unlink()
    (linked_file.path / "composites.nc").symlink_to(outside / "secret.nc")
    (store.root / "linked-folder").symlink_to(outside / "elsewhere")
    assert [s["name"] for s in store.list()] == [good.name]
    assert "linked-folder is a symbolic link" in caplog.text
    for name, link in ((linked_file.name, "composites.nc"), ("linked-folder", "linked-folder")):
        with pytest.raises(DataError, match=f"{link} is a symbolic link"):
            store.load(name)
    assert store.load(good.name).name == good.name


def test_saves_at_the_same_moment_keep_every_run(tmp_path):
    """Eight threads save runs of one name at once: eight runs, none replaced, each intact."""
    store = RunStore(tmp_path)
    runs = [make_run(seed=i) for i in range(8)]
    for r in runs:
        r.created = runs[0].created
    barrier = threading.Barrier(len(runs))

    def save(run):
        barrier.wait()
        return store.save(run)

    with ThreadPoolExecutor(len(runs)) as pool:
        paths = list(pool.map(save, runs))
    assert len(set(paths)) == len(runs) and len(store.list()) == len(runs)
    for run in runs:
        np.testing.assert_array_equal(store.load(run.name).labels.values, run.labels.values)
    again = make_run(seed=9)
    again.name = runs[0].name  # a name already taken: a new run, not a replacement
    store.save(again)
    assert again.name != runs[0].name
    np.testing.assert_array_equal(store.load(runs[0].name).labels, runs[0].labels)


def test_a_stored_run_reads_its_fields_only_where_a_view_needs_them(tmp_path, monkeypatch):
    """Opening a run reads none of its fields; a composite of some days reads the blocks of
    days that hold them, with the whole period's sums stored beside the fields (or computed
    once for a run saved before they were)."""
    run = make_run(n_time=60)
    path = save_run(run, tmp_path / "r")
    back = load_run(path)
    assert not any(back.fields[v].variable._in_memory for v in ("sst", "u10"))
    assert list(back.fields.data_vars) == ["sst", "u10", "mask"]  # as saved
    days = np.zeros(60, bool)
    days[[12, 13, 17]] = True
    expected = composite_of_days(run.fields, days)
    read = []
    centred = composites.FieldSums.centred
    monkeypatch.setattr(composites, "SELECTION_BLOCK_BYTES", 10 * 8 * 2 * 5 * 6)  # 10 days
    monkeypatch.setattr(composites.FieldSums, "centred",
                        lambda self, part, rows=None: read.append(part.sizes["time"])
                        or centred(self, part, rows))  # fmt: skip
    xr.testing.assert_allclose(composite_of_days(back.fields, days), expected)
    assert read == [6]  # days 12 to 17 of the block of days 10 to 19
    (path / "field_sums.nc").unlink()
    older = load_run(path)
    xr.testing.assert_allclose(composite_of_days(older.fields, days), expected)
    assert read[1:] == [60, 6]  # the sums read every day (one block), then the selection
    run.fields.to_netcdf(path / "fields.nc")  # a run saved before the fields went to Zarr
    shutil.rmtree(path / "fields.zarr")
    xr.testing.assert_allclose(composite_of_days(load_run(path).fields, days), expected)


def test_netcdf_reads_and_writes_from_threads_at_once(tmp_path):
    """save_run and load_run on four threads at once (HDF5 itself is not thread-safe)."""
    run = make_run()
    save_run(run, tmp_path / "ref")

    def work(i):
        for j in range(3):
            save_run(make_run(seed=i), tmp_path / f"r{i}-{j}")
            back = load_run(tmp_path / "ref")
            composite_of_days(back.fields, back.labels.values == j)  # reads the fields
        return back.labels.values

    with ThreadPoolExecutor(4) as pool:
        for labels in pool.map(work, range(4)):
            np.testing.assert_array_equal(labels, run.labels.values)


def test_recover_clears_stale_saves_and_restores_a_replaced_run(tmp_path):
    store = RunStore(tmp_path)
    save_run(make_run(), tmp_path / "kept")
    save_run(make_run(), tmp_path / "replaced")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".new.tmp-{dead}-0123abcd"
    live = tmp_path / f".busy.tmp-{os.getpid()}-0123abcd"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "labels.csv").write_text("time,cluster\n")
    (tmp_path / ".kept.old-1234abcd").mkdir()  # a replace that finished: the old copy goes
    # a crash between the two renames of a replace: the run survives only as .old-*
    os.replace(tmp_path / "replaced", tmp_path / f".replaced.old-{dead}-89abcdef")
    (tmp_path / "reserved").mkdir()  # a name reserved by a save that died
    os.utime(tmp_path / "reserved", (0, 0))
    done = store.recover()
    assert len(done) == 4, done
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "kept", "replaced"]
    assert {s["name"] for s in store.list()} == {"kept", "replaced"}
    store.load("replaced")
    assert store.recover() == []


def test_journal_reports_the_jobs_of_processes_that_died(tmp_path):
    store = RunStore(tmp_path)
    config = RunConfig(clusters=5, method="kmeans", seed=7)
    entry = store.journal(config)
    assert store.interrupted() == []  # this process holds it: in flight, not interrupted
    assert store.forget(entry.token) is None
    entry.close()
    assert store.interrupted() == [] and not list((tmp_path / ".jobs").glob("*.json"))
    code = (
        "import os, sys\nfrom dsc_core.pipeline import RunConfig\n"
        "from dsc_core.runs import RunStore\n"
        "RunStore(sys.argv[1]).journal(RunConfig(clusters=5, method='kmeans', seed=7))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT)
    assert killed.returncode == -9
    (lost,) = store.interrupted()
    assert RunConfig.from_dict(lost["config"]) == config and lost["started"]
    assert store.forget(lost["token"])["config"] == lost["config"]
    assert store.forget(lost["token"]) is None and store.interrupted() == []
    with pytest.raises(DataError, match="invalid job token"):
        store.forget("../config")
    for bad in ("[1, 2]", '{"config": {}}', '{"token": "t", "config": "x"}', "{broken"):
        (tmp_path / ".jobs" / "bad.json").write_text(bad)  # not written by a job: skipped
        assert store.interrupted() == []


def test_run_names_and_model_classes_are_checked(tmp_path):
    store = RunStore(tmp_path)
    for bad in ("../etc", "name\n", ".hidden", ""):
        with pytest.raises(DataError, match="invalid run name"):
            store.load(bad)
    model = tmp_path / "model"
    model.mkdir()
    np.save(model / "arrays.npy", np.zeros(2))
    for name in ("np", "make_estimator", "Path"):  # any name but a registered estimator class
        (model / "config.json").write_text(json.dumps({"estimator": name}))
        with pytest.raises(DataError, match="cannot be loaded"):
            runs_mod._load_estimator(model)
