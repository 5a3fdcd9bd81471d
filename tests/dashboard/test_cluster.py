"""Trainings as tasks on a dask.distributed cluster (DSC_SCHEDULER): they run, cancel, fail
cleanly when their worker dies, and a server that starts follows the ones still running."""

from __future__ import annotations

import contextlib
import json
import os
import time

import dask
import pytest

from dashboard import jobs
from dashboard.cluster import TASKS, ClusterRunner
from dashboard.config import ServerConfig
from dsc_core.errors import ConfigError
from dsc_core.runs import RunStore
from tests.dashboard.conftest import tiny_config

SLOW = {"pretrain_epochs": 500, "max_epochs": 500}


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of two worker processes; a task whose worker dies is not retried."""
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)  # fmt: skip
    yield cluster
    cluster.close()


def _wait(predicate, timeout=120.0):
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.1)


def test_the_scheduler_comes_from_the_environment():
    assert ServerConfig.from_env({}).scheduler is None
    assert ServerConfig.from_env({"DSC_SCHEDULER": " tcp://h:8786 "}).scheduler == "tcp://h:8786"


def test_a_training_runs_as_a_task_and_reports_its_progress(scheduler, tmp_path):
    store = RunStore(tmp_path)
    manager = jobs.JobManager(store, scheduler=scheduler.scheduler_address)
    job = manager.submit(tiny_config())
    assert job.finished.wait(180) and job.state == "done", job.error
    assert [e.phase for e in job.drain()][:2] == ["load", "preprocess"]
    assert job.run.name in {r["name"] for r in store.list()}
    assert not any((tmp_path / TASKS).iterdir())  # the task's folder is cleared
    assert store.interrupted() == []


def test_a_cancelled_task_leaves_no_run(scheduler, tmp_path):
    store = RunStore(tmp_path)
    manager = jobs.JobManager(store, scheduler=scheduler.scheduler_address)
    job = manager.submit(tiny_config(params=SLOW))
    _wait(lambda: job.stage.startswith("pretrain") or "epoch" in job.stage)
    manager.cancel(job)
    assert job.finished.wait(30) and job.state == "cancelled"
    assert store.list() == [] and store.interrupted() == []


def test_a_task_whose_worker_dies_fails_and_leaves_no_run(scheduler, tmp_path):
    store = RunStore(tmp_path)
    manager = jobs.JobManager(store, scheduler=scheduler.scheduler_address)
    job = manager.submit(tiny_config(params=SLOW))
    _wait(lambda: job.stage.startswith("pretrain") or "epoch" in job.stage)
    client = manager._runner.client
    (key,) = os.listdir(tmp_path / TASKS)
    running = [w for w, keys in client.processing().items() if key in keys]
    with contextlib.suppress(Exception):  # the worker running it is killed (out of memory)
        client.run(os._exit, 1, workers=running)
    assert job.finished.wait(60), "the job did not end"
    assert job.state == "failed" and "cluster" in job.error
    assert store.list() == []
    client.wait_for_workers(2, timeout=60)  # the LocalCluster starts a new worker


def test_a_new_server_follows_the_tasks_still_running(scheduler, tmp_path):
    store = RunStore(tmp_path)
    runner = ClusterRunner(scheduler.scheduler_address, tmp_path, None)
    entry = store.journal(tiny_config())
    _, pipe = runner.start(tiny_config(), entry.token)  # started by a server that then died:
    os.close(entry._fd)  # its journal entry is left unlocked, as a dead server leaves it
    _wait(lambda: (pipe.folder / "messages.jsonl").exists())  # the task has begun
    assert len(store.interrupted()) == 1
    manager = jobs.JobManager(store, scheduler=scheduler.scheduler_address)
    assert len(manager.adopted) == 1
    assert store.interrupted() == []  # followed again, not offered as interrupted
    job = manager.adopted[0]
    assert job.finished.wait(180) and job.state == "done", job.error
    assert job.run.name in {r["name"] for r in store.list()}
    runner.close()


def test_a_tampered_task_folder_is_read_as_untrusted(tmp_path):
    """messages.jsonl sits in the shared run store: lines that are not a task's reports are
    skipped, and a phase written as markup is shown as text."""
    from types import SimpleNamespace

    from dashboard.cluster import _ServerPipe
    from dashboard.job_status import JobStatus
    from dashboard.views.progress import status_text

    script = "<img src=x onerror=alert(document.domain)>"
    lines = [
        json.dumps(["event", {"phase": script, "epoch": 1, "n_epochs": 3}]),
        "[1, 2]", "{}", "not json", '["done"]', '["done", 5]', '["stage", ["x"]]',
        '["event", {"phase": 5, "epoch": 1, "n_epochs": 3}]',
        '["event", {"phase": "joint", "epoch": 1, "n_epochs": 3, "losses": {"l": "x"}}]',
        '["event", {"phase": "joint", "epoch": 1, "n_epochs": 3, "__class__": 1}]',
        '["failed", "no data"]',
    ]  # fmt: skip
    (tmp_path / "messages.jsonl").write_text("\n".join(lines) + "\n")
    pipe = _ServerPipe(tmp_path, SimpleNamespace(status="finished"))
    kind, event = pipe.recv()
    assert kind == "event" and event.phase == script
    assert pipe.recv() == ("failed", "no data")
    with pytest.raises(EOFError):
        pipe.recv()
    shown = status_text(JobStatus(state="running", phase=event.phase))
    assert "<img" not in shown and "&lt;img" in shown


def test_a_scheduler_behind_tls_takes_dask_s_own_security_settings(tmp_path):
    """A ``tls://`` scheduler that asks for client certificates: the server connects with the
    certificates dask's configuration names (DASK_DISTRIBUTED__COMM__TLS__*), and without
    them it cannot."""
    from distributed import LocalCluster
    from distributed.security import Security

    pytest.importorskip("cryptography")
    made = Security.temporary()  # a CA and a certificate it signed, as PEM text
    files = {}
    for name in ("ca_file", "client_cert", "client_key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(getattr(made, f"tls_{name}"))
    cert, key = str(files["client_cert"]), str(files["client_key"])  # one for every role
    security = Security(
        tls_ca_file=str(files["ca_file"]), require_encryption=True,
        tls_client_cert=cert, tls_client_key=key, tls_scheduler_cert=cert,
        tls_scheduler_key=key, tls_worker_cert=cert, tls_worker_key=key,
    )  # fmt: skip
    settings = {"distributed.comm.tls.ca-file": str(files["ca_file"]),
                "distributed.comm.tls.client.cert": cert, "distributed.comm.tls.client.key": key,
                "distributed.comm.require-encryption": True}  # fmt: skip
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tls://",
                      security=security, dashboard_address=None) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with pytest.raises(ConfigError, match="DSC_SCHEDULER .* asks for TLS"):
            ClusterRunner(address, tmp_path, None)  # without certificates: one line says so
        with dask.config.set(settings):
            store = RunStore(tmp_path / "runs")
            manager = jobs.JobManager(store, scheduler=address)
            job = manager.submit(tiny_config(method="kmeans"))  # the connection is the point
            assert job.finished.wait(180) and job.state == "done", job.error
            manager._runner.close()
