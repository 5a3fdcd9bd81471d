"""State objects without a browser: settings, linked selection, jobs, sessions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dashboard import jobs
from dashboard.caches import describe_cached
from dashboard.config import SAMPLE, ServerConfig
from dashboard.results import Results
from dashboard.session import Session
from dashboard.settings import Settings, read_size
from dsc_core.errors import ConfigError, DataError
from dsc_core.runs import RunStore
from tests.dashboard.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]
SLOW = {"pretrain_epochs": 500, "max_epochs": 500}


def wait(predicate, timeout=60.0, poll=None):
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        if poll:
            poll()
        time.sleep(0.1)


def kmeans_settings(session: Session, **changes) -> None:
    session.settings.poll(None)
    session.settings.set_engine_options(jobs.engine_options())
    session.settings.param.update(
        method="kmeans", clusters=3, variables=["sst", "t2m"], check_stability=False,
        start=dt.date(2021, 1, 1), end=dt.date(2021, 2, 28), **changes,
    )  # fmt: skip


def test_server_config_reads_env_and_lists_allowed_sources(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "era5").mkdir(parents=True)
    outside.mkdir()
    (data / "era5" / "a.nc").write_bytes(b"")
    (data / "notes.txt").write_text("x")
    (outside / "secret.nc").write_bytes(b"")
    (data / "link.nc").symlink_to(outside / "secret.nc")
    (data / "inner.nc").symlink_to(data / "era5" / "a.nc")
    env = {"DSC_DATA_DIRS": str(data), "DSC_MAX_JOBS": "3", "DSC_AUTOSTART": "0"}
    env.update(DSC_QUEUE_LENGTH="4", DSC_JOBS_PER_SESSION="2", DSC_PRESETS="fast, paper")
    env.update(DSC_MAX_VALUES="1000", DSC_EXPORT_MAX_MB="5")
    cfg = ServerConfig.from_env(env)
    assert (cfg.max_jobs, cfg.queue_length, cfg.jobs_per_session) == (3, 4, 2)
    assert (cfg.presets, cfg.max_values, cfg.export_max_mb) == (("fast", "paper"), 1000, 5)
    assert not cfg.autostart
    defaults = ServerConfig.from_env({})
    assert (defaults.max_jobs, defaults.queue_length, defaults.jobs_per_session) == (2, 8, 1)
    assert "paper" not in defaults.presets
    sources = cfg.sources()
    assert list(sources.values())[0] == SAMPLE
    assert str(data / "era5" / "a.nc") in sources.values()
    assert str(data / "era5") in sources.values()
    assert str(data / "inner.nc") in sources.values()  # a symlink that stays inside
    assert not any(v.endswith(("notes.txt", "link.nc")) for v in sources.values())
    assert all(not label.startswith("/") for label in sources)
    assert cfg.check_source(str(data / "era5" / "a.nc"))
    for bad in ("/etc/passwd", str(data / ".." / "outside" / "secret.nc"), str(data / "link.nc")):
        with pytest.raises(DataError, match="outside the data folders") as err:
            cfg.check_source(bad)
        assert str(tmp_path) not in str(err.value) or bad == "/etc/passwd"
    assert cfg.label(f"cannot read {data}/era5/a.nc") == "cannot read data/era5/a.nc"
    with pytest.raises(ConfigError, match="DSC_QUEUE_LENGTH must be a whole number"):
        ServerConfig.from_env({"DSC_QUEUE_LENGTH": "many"})


@pytest.mark.parametrize(
    "default_run, match",
    [
        ('{"clusters": 500}', "clusters=500 is outside the page's range 2..20"),
        ('{"seed": -1}', "seed must be an integer from 0"),
        ('{"start": "yesterday"}', "start 'yesterday' is not a date: use YYYY-MM-DD"),
        ('{"months": "XYZ"}', "months 'XYZ' are not a season"),
        ('{"clusterz": 3}', "unknown run settings"),
        ("{broken", "not valid JSON"),
    ],
)
def test_a_bad_default_run_is_one_line_naming_the_variable(default_run, match):
    with pytest.raises(ConfigError, match=match) as err:
        ServerConfig.from_env({"DSC_DEFAULT_RUN": default_run})
    assert "DSC_DEFAULT_RUN" in str(err.value) and "\n" not in str(err.value)
    good = ServerConfig.from_env(
        {"DSC_DEFAULT_RUN": '{"data": "sample", "start": "2021-01-01", "clusters": 5}'}
    )
    assert good.default_run == {"data": "sample", "start": "2021-01-01", "clusters": 5}


def test_settings_describe_in_the_background_and_show_loader_errors(tmp_path):
    bad = tmp_path / "broken.nc"
    bad.write_bytes(b"not a netcdf file")
    cfg = ServerConfig(data_dirs=(tmp_path,), run_store=tmp_path / "runs")
    s = Settings(sources=cfg.sources(), server=cfg)
    s.poll(None)
    assert s.ready and s.synthetic and "sst" in s.variables
    assert s.start.isoformat() == "2021-01-01"
    s.source = str(bad)
    assert not s.ready and s.info == {}
    with pytest.raises(DataError, match="still being read"):
        s.to_config()
    s.poll(None)
    assert s.error and "\n" not in s.error and s.variables == []
    assert str(tmp_path) not in s.error and "broken.nc" in s.error
    s.source = SAMPLE
    s.poll(None)
    assert s.error == "" and s.variables


def test_settings_make_a_valid_config(server_config):
    s = Settings(sources=server_config.sources(), server=server_config)
    s.poll(None)
    s.set_engine_options(jobs.engine_options())
    assert s.param.preset.objects == ["default", "fast"]  # no "paper" unless the server allows it
    s.param.update(clusters=5, preset="fast", variables=["sst", "u10"], window=3)
    cfg = s.to_config()
    assert (cfg.clusters, cfg.preset, cfg.variables, cfg.window) == (5, "fast", ["sst", "u10"], 3)
    assert cfg.check_stability
    assert cfg.months is None and s.param.months.objects == ["all year", "DJF", "MAM", "JJA", "SON"]
    s.months = "DJF"
    assert s.to_config().months == [12, 1, 2]
    s.apply({"months": [5, 6]})  # an interrupted run's months: offered again as they were
    s.poll(None)
    assert s.months == "5,6" and s.to_config().months == [5, 6]


def test_settings_refuse_a_preset_or_a_size_the_server_does_not_allow(server_config):
    s = Settings(sources=server_config.sources(), server=server_config)
    s.set_engine_options(jobs.engine_options())
    s.apply({"preset": "paper"})  # e.g. the settings of an interrupted run
    s.poll(None)
    with pytest.raises(ConfigError, match="preset 'paper' is not offered"):
        s.to_config()
    s.preset = "fast"
    assert s.size() == (365, 41 * 41, 7)
    s.param.update(variables=["sst", "t2m"], bbox=[36.0, 40.0, -30.0, -26.0])
    days, cells, n = s.size()
    assert (days, n) == (365, 2) and 16 * 16 <= cells <= 18 * 18  # the TINY box: 17 x 17
    small = ServerConfig(data_dirs=server_config.data_dirs, run_store=server_config.run_store,
                         max_values=100_000)  # fmt: skip
    s = Settings(sources=small.sources(), server=small)
    s.poll(None)
    s.param.update(variables=["sst", "t2m"], bbox=[36.0, 40.0, -30.0, -26.0])
    with pytest.raises(ConfigError, match=r"365 days × \d+ grid cells × 2 variables") as err:
        s.to_config()
    assert "GB of memory" in str(err.value) and "DSC_MAX_VALUES" in str(err.value)
    s.end = dt.date(2021, 2, 28)
    assert s.to_config().end == "2021-02-28"  # 59 days fit


def test_ward_is_limited_by_its_memory_which_grows_with_the_square_of_the_days():
    server = ServerConfig(max_values=20_000_000)  # ~2 GB
    server.check_size(24_000, 4, 1, method="kmeans")  # 96 000 values: nothing to say
    with pytest.raises(ConfigError, match=r"Ward's clustering of 24000 days needs about 5.2 GB"):
        server.check_size(24_000, 4, 1, method="agglomerative")  # measured: 4.93 GB
    server.check_size(12_000, 4, 1, method="agglomerative")  # 1.3 GB (measured 1.54 GB)


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
    manager = jobs.JobManager(store)
    job = manager.submit(tiny_config(params=SLOW))
    wait(lambda: job.stage not in ("waiting for a free worker", "starting", "loading data"), 120)
    assert job.state == "running"
    t = time.monotonic()
    manager.cancel(job)
    assert job.finished.wait(10), "job did not stop"
    assert job.state == "cancelled" and time.monotonic() - t < 10
    assert not [e for e in store.interrupted() if e["config"]["params"] == SLOW]


def test_each_job_has_its_share_of_the_cores(store):
    cores = os.cpu_count()
    assert jobs.JobManager(store, max_jobs=2).threads == max(1, cores // 2)
    assert jobs.JobManager(store, max_jobs=4 * cores).threads == 1


def test_trainings_and_umap_run_at_a_lower_priority_than_the_server(store):
    import psutil

    mine = os.nice(0)
    assert jobs._umap_process().submit(os.nice, 0).result(60) == mine + jobs.BACKGROUND_NICENESS
    manager = jobs.JobManager(store, max_jobs=1)
    job = manager.submit(tiny_config(params=SLOW))
    wait(lambda: job.stage not in ("waiting for a free worker", "starting"), 120)
    forkservers = [p for p in psutil.Process().children() if "forkserver" in " ".join(p.cmdline())]
    niceness = {p.nice() for f in forkservers for p in f.children()}  # the job's process
    manager.cancel(job)
    assert job.finished.wait(10)
    assert mine + jobs.BACKGROUND_NICENESS in niceness


def test_a_job_process_that_ignores_its_cancel_is_stopped(store, monkeypatch):
    """A process that sends no progress event (a long phase without one) never reads the
    cancel: the dispatcher ends it after the grace period, and the job is cancelled."""
    monkeypatch.setattr(jobs, "CANCEL_GRACE_S", 0.5)
    manager = jobs.JobManager(store, max_jobs=1)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    deaf = ctx.Process(target=time.sleep, args=(60,), daemon=True)
    deaf.start()
    job = jobs.Job(tiny_config())
    job.cancel()
    t = time.monotonic()
    assert manager._relay(job, deaf, ours) == ("cancelled",)
    assert time.monotonic() - t < 5 and not deaf.is_alive()


def test_two_sessions_train_at_once_on_two_workers_and_a_third_queues(server_config, store):
    """The default of two workers, two jobs at the same moment: with jobs on threads the
    server crashed (HDF5 is not thread-safe) or lost one of the two runs (same name)."""
    manager = jobs.JobManager(store, max_jobs=2)
    sessions = [Session(server_config, manager, store) for _ in range(3)]
    for s in sessions:
        kmeans_settings(s)
    for s in sessions:
        s.train()
    # both workers are busy: the third job waits until one of the first two has ended (one
    # that ended already, on a fast machine, may have freed its worker: nothing else may)
    ended = any(s.job is None or s.job.finished.is_set() for s in sessions[:2])
    assert sessions[2].status.state == "queued" or ended
    for s in sessions:
        wait(lambda s=s: s.status.state in ("failed", "cancelled") or s.results.run, 120, s.poll)
        assert s.status.state == "done", s.status.error
        assert s.results.run is not None and s.run_name in {r["name"] for r in s.runs}
        assert s.status.stage == "done" and s.status.phase == "done"
    names = {s.run_name for s in sessions}
    assert len(names) == 3  # same second, same method and K: three runs, none replaced
    for s in sessions:
        np.testing.assert_array_equal(store.load(s.run_name).labels, s.results.run.labels)


def test_seeds_repeat_while_jobs_overlap_and_progress_reaches_the_job(store):
    manager = jobs.JobManager(store, max_jobs=2)
    a, b = manager.submit(tiny_config()), manager.submit(tiny_config())
    events = []
    while not (a.finished.is_set() and b.finished.is_set()):
        events += a.drain()
        time.sleep(0.05)
    events += a.drain()
    assert (a.state, b.state) == ("done", "done"), (a.error, b.error)
    assert {"load", "pretrain", "joint"} <= {e.phase for e in events}
    assert any(e.losses for e in events if e.phase == "pretrain")
    lone = manager.submit(tiny_config())
    assert lone.finished.wait(120) and lone.state == "done", lone.error
    for job in (a, b):
        np.testing.assert_array_equal(job.run.labels.values, lone.run.labels.values)
        np.testing.assert_array_equal(job.run.latent.values, lone.run.latent.values)


def test_queue_length_and_jobs_per_session_are_limits(store):
    manager = jobs.JobManager(store, max_jobs=1, queue_length=1, per_owner=1)
    blocker = manager.submit(tiny_config(params=SLOW), owner="a")
    wait(lambda: blocker.state == "running", 30)
    with pytest.raises(jobs.Busy, match="DSC_JOBS_PER_SESSION=1"):
        manager.submit(tiny_config(), owner="a")
    blocker.cancel()  # cancelled, its process still stopping: it still counts
    with pytest.raises(jobs.Busy, match="stopping"):
        manager.submit(tiny_config(), owner="a")
    waiting = manager.submit(tiny_config(), owner="b")
    with pytest.raises(jobs.Busy, match=r"queue is full \(1 waiting, DSC_QUEUE_LENGTH=1\)"):
        manager.submit(tiny_config(), owner="c")
    assert manager.position(waiting) == 1
    manager.cancel(waiting)
    manager.cancel(blocker)
    assert blocker.finished.wait(10) and waiting.state == "cancelled"
    again = manager.submit(tiny_config(params=SLOW), owner="a")  # the limits free up
    manager.cancel(again)
    assert again.finished.wait(10)


def test_session_closed_cancels_its_queued_job(server_config, store):
    manager = jobs.JobManager(store, max_jobs=1)
    blocker = manager.submit(tiny_config(params=SLOW))
    s = Session(server_config, manager, store)
    s.settings.poll(None)
    s.settings.set_engine_options(jobs.engine_options())
    s.train()
    s.poll()
    assert s.status.state == "queued"
    s.train()  # one job per session at a time: refused, with the reason
    assert "DSC_JOBS_PER_SESSION" in s.message
    s.close()
    s.poll()
    assert s.status.state == "cancelled"
    manager.cancel(blocker)
    assert blocker.finished.wait(10)


def test_a_run_interrupted_by_a_killed_server_is_offered_again(server_config, tmp_path):
    store = RunStore(tmp_path / "runs")
    config = {**tiny_config(method="kmeans").to_dict(), "seed": 3, "params": {}}
    code = (
        "import json, os, sys\n"
        "from dsc_core.pipeline import RunConfig\nfrom dsc_core.runs import RunStore\n"
        "RunStore(sys.argv[1]).journal(RunConfig.from_dict(json.loads(sys.argv[2])))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(store.root), json.dumps(config)],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == -9, done.stderr
    autostart = ServerConfig(data_dirs=server_config.data_dirs, run_store=store.root)
    s = Session(autostart, jobs.JobManager(store, 1), store)
    s.open()  # an empty store, but an interrupted run: offered, no first run of its own
    s.settings.poll(None)
    s.poll()
    assert s.job is None and s.status.state == "idle"
    (entry,) = s.interrupted
    assert entry["config"]["seed"] == 3 and entry["config"]["method"] == "kmeans"
    s.restart(entry["token"])
    wait(lambda: s.job is not None, 30, s.poll)  # its entry goes once the job is accepted
    assert s.interrupted == [] and store.interrupted() == []
    # the finished run is read back off the event loop: wait for it to reach the results too
    wait(lambda: s.status.state == "done" and s.results.run is not None, 120, s.poll)
    assert s.results.run.config.seed == 3 and s.results.run.config.method == "kmeans"
    assert s.results.run.config.bbox == tiny_config().bbox
    s.restart(entry["token"])  # once only
    assert "already" in s.message


def test_session_opens_the_newest_stored_run_off_the_event_loop(server_config, tiny_run, tmp_path):
    store = RunStore(tmp_path)  # its own store: the shared one gets newer runs from other tests
    shutil.copytree(tiny_run.path, tmp_path / tiny_run.path.name)
    (tmp_path / tiny_run.path.name / jobs.UMAP_FILE).unlink(missing_ok=True)  # not cached yet
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.open()
    wait(lambda: s.results.run is not None, 30, s.poll)
    assert s.run_name == s.runs[0]["name"]
    wait(lambda: s.results.embedding_kind == "UMAP", 120, s.poll)
    assert (s.results.run.path / jobs.UMAP_FILE).exists()  # cached in the run folder


def test_a_damaged_run_folder_is_a_message(server_config, tiny_run, tmp_path):
    shutil.copytree(tiny_run.path, tmp_path / "r")
    (tmp_path / "r" / "latent.nc").write_bytes(b"\x89HDF\r\n\x1a\n damaged")
    store = RunStore(tmp_path)
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.load_run("r")
    wait(lambda: s.message, 30, s.poll)
    assert "cannot read that run" in s.message and s.results.run is None


def test_umap_is_read_back_from_the_run_folder_not_recomputed(tiny_run, tmp_path):
    shutil.copytree(tiny_run.path, tmp_path / "r")
    run = RunStore(tmp_path).load("r")
    n = run.n_days
    planted = np.column_stack([np.arange(n), -np.arange(n)]).astype(np.float32)
    cache = xr.Dataset({"umap": (("time", "component"), planted)})
    cache.to_netcdf(tmp_path / "r" / jobs.UMAP_FILE)
    np.testing.assert_array_equal(jobs.embedding(run), planted)


def test_maps_open_on_a_pressure_field_where_there_is_one():
    from dashboard.results import first_variable

    assert first_variable(["sst", "t2m", "sp", "u10"]) == "sp"
    assert first_variable(["t2m", "msl"]) == "msl"
    assert first_variable(["sst", "t2m"]) == "sst"


def test_measuring_k_runs_as_a_job_and_leaves_a_table_not_a_run(server_config, store):
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.settings.apply({**tiny_config(method="kmeans").to_dict(), "data": SAMPLE})
    s.settings.poll(None)
    before = {r["name"] for r in store.list()}
    s.param.update(k_range=(2, 3), k_seeds=2)
    s.measure_k()
    assert s.job.config.max_minutes == server_config.measure_k_minutes == 10  # its time budget
    wait(lambda: s.k_table is not None or s.status.state == "failed", 120, s.poll)
    assert s.status.state == "done", s.status.error
    assert list(s.k_table.index) == [2, 3] and "classifiability" in s.k_table
    assert "kmeans, K 2–3, 2 seeds" in s.k_settings
    assert {r["name"] for r in store.list()} == before and not store.interrupted()


def test_the_run_on_screen_is_compared_with_a_stored_one(server_config, tiny_run, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(tiny_run.path, tmp_path / name)
    store = RunStore(tmp_path)
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.show(store.load("a"))
    s.compare("b")
    wait(lambda: s.comparison is not None, 30, s.poll)
    result = s.comparison
    assert result["ari"] == pytest.approx(1.0) and result["n_days"] == tiny_run.n_days
    assert (result["pairs"]["pattern correlation"] > 0.999).all()
    assert int(result["contingency"].values.sum()) == tiny_run.n_days


def test_another_period_is_assigned_with_the_run_on_screen(server_config, tiny_run, store):
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.show(tiny_run)
    s.param.update(assign_start=dt.date(2021, 3, 2), assign_end=dt.date(2021, 4, 30))
    s.assign(SAMPLE)
    wait(lambda: s.assigned is not None or s.message, 60, s.poll)
    assert not s.message and len(s.assigned) == 60
    assert s.assigned["cluster"].between(0, tiny_run.config.clusters - 1).all()
    s.assign("/etc/passwd")  # not a listed source
    assert "outside the data folders" in s.message


def test_assign_keeps_to_the_size_limit_and_one_request_per_page(server_config, tiny_run, store):
    """Assign is refused before anything is read when it would read more than
    DSC_MAX_VALUES, and a page has one request at a time."""
    info = describe_cached(SAMPLE)
    _, cells, n_vars = read_size(info, None, None, tiny_run.config.bbox, 3)
    small = dataclasses.replace(server_config, max_values=40 * cells * n_vars)
    s = Session(small, jobs.JobManager(store, 1), store)
    s.show(tiny_run)
    s.param.update(assign_start=dt.date(2021, 3, 1), assign_end=dt.date(2021, 5, 31))
    s.assign(SAMPLE)
    s.assign(SAMPLE)  # a second click while the first is running
    assert "already labelling days" in s.message
    wait(lambda: s._assigning is None, 60, s.poll)
    assert s.assigned is None and "92 days" in s.message and "DSC_MAX_VALUES" in s.message
    s.param.update(assign_start=dt.date(2021, 3, 1), assign_end=dt.date(2021, 3, 30))
    s.assign(SAMPLE)
    wait(lambda: s._assigning is None, 60, s.poll)
    assert len(s.assigned) == 30


def test_the_summary_of_a_sweep_into_the_run_store_is_shown(server_config, tmp_path):
    store = RunStore(tmp_path)
    session = Session(server_config, None, store)
    assert session.sweep is None
    summary = "method,K,seeds,seed_agreement,frequencies\nkmeans,3,2,0.9,40% 35% 25%\n"
    (tmp_path / "sweep-k.csv").write_text(summary)
    session.refresh_runs()
    assert session.sweep.loc[("kmeans", 3), "seed_agreement"] == 0.9
    rows = "".join(f"kmeans,{k},2,0.5,x\n" for k in range(200_000))  # not a sweep's summary
    (tmp_path / "sweep-k.csv").write_text(summary.splitlines()[0] + ",more" * 50 + "\n" + rows)
    session.refresh_runs()
    assert session.sweep.shape[0] <= 200 and session.sweep.shape[1] <= 12


def test_a_read_only_gallery_refuses_every_action_that_trains_reads_data_or_writes(
    server_config, tiny_run, store, tmp_path
):
    """Whatever a client sends (the page offers none of these), a DSC_READ_ONLY server starts
    no job, reads no data folder and leaves the run store as it is."""
    (server_config.data_dirs[0] / "new.nc").write_bytes(b"")
    gallery = ServerConfig.from_env(
        {
            "DSC_READ_ONLY": "1",
            "DSC_RUN_STORE": str(store.root),
            "DSC_DATA_DIRS": str(server_config.data_dirs[0]),
        }  # fmt: skip
    )
    assert gallery.read_only and list(gallery.sources().values()) == [SAMPLE]
    before = sorted(p.name for p in store.root.iterdir())
    session = Session(gallery, None, store)
    session.open()
    wait(lambda: session.results.run is not None, poll=session.poll)
    for action in (session.train, session.measure_k, lambda: session.assign(SAMPLE),
                   lambda: session.restart("x"), lambda: session.dismiss("x")):  # fmt: skip
        session.message = ""
        action()
        session.poll()
        assert "read-only gallery" in session.message and session.job is None
    assert sorted(p.name for p in store.root.iterdir()) == before
    with pytest.raises(ConfigError, match="DSC_READ_ONLY must be 1 or 0"):
        ServerConfig.from_env({"DSC_READ_ONLY": "perhaps"})


@pytest.mark.parametrize(
    "tampered, message",
    [
        ({"window": 99999}, "window 99999 is not one the page offers"),
        ({"clusters": 500}, "clusters=500 is outside the page's range"),
        ({"start": "yesterday"}, "'yesterday' is not a date"),
        ({"params": {"pretrain_epochs": 10**9}}, "engine settings the page cannot set"),
        ({"preset": "paper"}, "preset 'paper' is not offered here"),
    ],
)
def test_start_again_keeps_to_the_page_s_limits_and_keeps_a_refused_entry(
    server_config, tmp_path, tampered, message
):
    """A journal entry is read from disk, not trusted: "Start again" on settings the page could
    not have made is refused with a message, and the entry stays to be dismissed."""
    store = RunStore(tmp_path / "runs")
    token = "20260101-000000-0123abcd"
    config = {**tiny_config(method="kmeans").to_dict(), "params": {}, **tampered}
    (store.root / ".jobs").mkdir(parents=True)
    entry = {"token": token, "started": "2026-01-01T00:00:00", "config": config}
    (store.root / ".jobs" / f"{token}.json").write_text(json.dumps(entry))
    s = Session(server_config, jobs.JobManager(store, 1), store)
    s.restart(token)
    s.settings.poll(None)
    s.poll()
    assert message in s.message and s.job is None
    assert [e["token"] for e in store.interrupted()] == [token]


def test_a_training_stopped_with_its_server_is_offered_again(tmp_path):
    """A server that exits normally (SIGTERM, Ctrl-C) ends its job processes on the way out:
    their trainings were interrupted, not failed, and the next server offers them again."""
    store = RunStore(tmp_path / "runs")
    code = (
        "import sys, time\n"
        "from dashboard import jobs\nfrom dsc_core.runs import RunStore\n"
        "from tests.dashboard.conftest import tiny_config\n"
        "manager = jobs.JobManager(RunStore(sys.argv[1]), 1)\n"
        f"job = manager.submit(tiny_config(params={SLOW!r}, seed=7), owner='page')\n"
        "while not job.drain():\n    time.sleep(0.1)\n"
        "sys.exit(0)  # as panel serve does on SIGTERM: Python ends its job processes\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(store.root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (entry,) = store.interrupted()
    assert entry["config"]["seed"] == 7


def test_a_source_on_several_levels_offers_them_and_the_run_takes_the_chosen_one(tmp_path):
    import dsc_core

    ds = dsc_core.sample(start="2021-01-01", end="2021-01-31")[["t2m", "sp"]]
    levels = xr.concat([ds.expand_dims(level=[lv]) for lv in (850.0, 500.0, 250.0)], "level")
    levels["level"].attrs.update(units="hPa", long_name="pressure_level")
    path = tmp_path / "pl.nc"
    levels.to_netcdf(path)
    s = Settings(sources={"sample": SAMPLE, "pl": str(path)})
    s.source = str(path)
    s.poll(None)
    assert s.param.level.objects == [850.0, 500.0, 250.0] and s.level == 500.0  # 500 hPa first
    s.level = 250.0
    assert s.to_config().level == 250.0
    s.apply({"data": str(path), "level": 850})  # DSC_DEFAULT_RUN or an interrupted run
    s.poll(None)
    assert s.level == 850.0
    s.source = SAMPLE  # one level: nothing to choose
    s.poll(None)
    assert s.level is None and s.to_config().level is None
