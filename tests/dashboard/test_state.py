"""State objects without a browser: settings, linked selection, jobs, sessions."""

from __future__ import annotations

import datetime as dt
import shutil
import time

import numpy as np
import pytest

from dashboard import jobs
from dashboard.config import SAMPLE, ServerConfig
from dashboard.state import Results, Session, Settings
from dsc_core.errors import DataError
from tests.dashboard.conftest import tiny_config


def wait(predicate, timeout=60.0, poll=None):
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        if poll:
            poll()
        time.sleep(0.1)


def test_server_config_reads_env_and_lists_allowed_sources(tmp_path):
    (tmp_path / "era5").mkdir()
    (tmp_path / "era5" / "a.nc").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    cfg = ServerConfig.from_env(
        {"DSC_DATA_DIRS": str(tmp_path), "DSC_MAX_JOBS": "3", "DSC_AUTOSTART": "0"}
    )
    assert cfg.max_jobs == 3 and not cfg.autostart
    sources = cfg.sources()
    assert list(sources.values())[0] == SAMPLE
    assert str(tmp_path / "era5" / "a.nc") in sources.values()
    assert str(tmp_path / "era5") in sources.values()
    assert not any(v.endswith("notes.txt") for v in sources.values())
    assert cfg.check_source(str(tmp_path / "era5" / "a.nc"))
    with pytest.raises(DataError, match="outside the allowed data directories"):
        cfg.check_source("/etc/passwd")
    with pytest.raises(DataError):
        cfg.check_source(str(tmp_path / ".." / "elsewhere.nc"))


def test_settings_describe_the_sample_and_show_loader_errors(tmp_path):
    bad = tmp_path / "broken.nc"
    bad.write_bytes(b"not a netcdf file")
    cfg = ServerConfig(data_dirs=(tmp_path,), run_store=tmp_path / "runs")
    s = Settings(sources=cfg.sources(), server=cfg)
    assert s.synthetic and "sst" in s.variables and s.start.isoformat() == "2021-01-01"
    s.source = str(bad)
    assert s.error and "\n" not in s.error and s.variables == []
    s.source = SAMPLE
    assert s.error == "" and s.variables


def test_settings_make_a_valid_config(server_config):
    s = Settings(sources=server_config.sources(), server=server_config)
    s.set_engine_options(jobs.engine_options())
    s.param.update(clusters=5, preset="fast", variables=["sst", "u10"], window=3)
    cfg = s.to_config()
    assert (cfg.clusters, cfg.preset, cfg.variables, cfg.window) == (5, "fast", ["sst", "u10"], 3)


def test_selection_changes_the_composite(tiny_run):
    r = Results()
    r.set_run(tiny_run)
    assert r.selection_composite() is None
    assert r.embedding.shape == (tiny_run.n_days, 2)

    r.select_cluster(0)
    comp = r.selection_composite()
    expected = tiny_run.composites["anomaly"].sel(cluster=0).values
    np.testing.assert_allclose(comp["anomaly"].values, expected, rtol=1e-4, atol=1e-4)
    assert r.origin == "cluster" and int(comp["count"]) == int((r.labels == 0).sum())

    v = r.version
    r.select_span("2021-01-10", "2021-01-19")
    span = r.selection_composite()
    assert r.version > v and int(span["count"]) == 10 and r.cluster is None
    assert not np.allclose(span["anomaly"].values, comp["anomaly"].values, equal_nan=True)

    r.select_indices([0, 1, 2], "umap")
    assert int(r.selection_composite()["count"]) == 3 and r.origin == "umap"
    r.select_cluster(None)
    assert r.days is None and r.selection_composite() is None

    r.pick_day("2021-02-03T17:00")
    assert r.day.strftime("%Y-%m-%d") == "2021-02-03"


def test_cancel_stops_a_running_job_within_seconds(store):
    manager = jobs.JobManager(store, max_jobs=1)
    job = manager.submit(tiny_config(params={"pretrain_epochs": 500, "max_epochs": 500}))
    wait(lambda: job.stage not in ("waiting for a free worker", "loading data"), 120)
    assert job.state == "running"
    t = time.monotonic()
    manager.cancel(job)
    assert job.finished.wait(10), "job did not stop"
    assert job.state == "cancelled" and time.monotonic() - t < 10


def test_two_sessions_train_at_once_and_extra_jobs_queue(server_config, store):
    manager = jobs.JobManager(store, max_jobs=1)
    a = Session(server_config, manager, store)
    b = Session(server_config, manager, store)
    for s in (a, b):
        s.settings.set_engine_options(jobs.engine_options())
        s.settings.param.update(
            method="kmeans", clusters=3, variables=["sst", "t2m"],
            start=dt.date(2021, 1, 1),
            end=dt.date(2021, 2, 28),
        )  # fmt: skip
    a.train()
    b.train()
    assert b.status.state == "queued" and b.status.position == 1
    for s in (a, b):
        wait(lambda s=s: s.status.state not in ("queued", "running"), 120, s.poll)
        assert s.status.state == "done", s.status.error
        assert s.results.run is not None and s.run_name in {r["name"] for r in s.runs}


def test_session_closed_cancels_its_queued_job(server_config, store):
    manager = jobs.JobManager(store, max_jobs=1)
    blocker = manager.submit(tiny_config(params={"pretrain_epochs": 500, "max_epochs": 500}))
    s = Session(server_config, manager, store)
    s.settings.set_engine_options(jobs.engine_options())
    s.train()
    s.poll()
    assert s.status.state == "queued"
    s.close()
    s.poll()
    assert s.status.state == "cancelled"
    manager.cancel(blocker)
    assert blocker.finished.wait(10)


def test_session_opens_the_newest_stored_run(server_config, tiny_run, tmp_path):
    from dsc_core.runs import RunStore

    store = RunStore(tmp_path)  # its own store: the shared one gets newer runs from other tests
    shutil.copytree(tiny_run.path, tmp_path / tiny_run.path.name)
    (tmp_path / tiny_run.path.name / jobs.UMAP_FILE).unlink(missing_ok=True)  # not cached yet
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.open()
    assert s.results.run is not None and s.run_name == s.runs[0]["name"]
    wait(lambda: s.results.embedding_kind == "UMAP", 120, s.poll)
    assert (s.results.run.path / jobs.UMAP_FILE).exists()  # cached in the run folder
    again = jobs.embedding(s.results.run)  # cached: read back, not recomputed
    np.testing.assert_allclose(again, s.results.embedding)


def test_maps_open_on_a_pressure_field_where_there_is_one():
    from dashboard.state import first_variable

    assert first_variable(["sst", "t2m", "sp", "u10"]) == "sp"
    assert first_variable(["t2m", "msl"]) == "msl"
    assert first_variable(["sst", "t2m"]) == "sst"
