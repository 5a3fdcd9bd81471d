"""Background work for the dashboard: training jobs, UMAP embeddings, warm-up.

Every training runs in a process of its own (multiprocessing's "forkserver" context with the
engine preloaded, so that a job starts in a fraction of a second): netCDF4/HDF5 is not
thread-safe, and torch's random state and thread count belong to a process, so jobs that
overlap neither crash the server nor change each other's results. The job's process trains,
saves the run into the store and reports through a pipe: progress events, then its outcome.
In the server, ``max_jobs`` dispatcher threads each run one job's process at a time, relay its
reports and pass a cancel on. UMAP (and the numba warm-up) run in one more worker process.
Nothing here touches a Panel object: a session polls its :class:`Job` (and the embedding
future) from a periodic callback on its own event loop and copies what it finds into its
param state.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dashboard.job_work import task_config, work
from dsc_core.choose_k import ChooseKRequest
from dsc_core.errors import DSCError

log = logging.getLogger(__name__)

UMAP_FILE = "umap.nc"
PRELOAD = ["dashboard.job_work", "dsc_core.pipeline", "dsc_core.runs", "dsc_core.baselines",
           "torch._inductor"]  # fmt: skip
"""Imported once by the forkserver, so that each job's process starts with the engine loaded
(``torch._inductor`` too: torch imports it, ~3 s, at a training's first
``use_deterministic_algorithms``)."""
BACKGROUND_NICENESS = 10
"""How much lower than the server's the OS priority of training processes and of the UMAP
process is: on a busy machine the server (the pages) keeps the CPU it needs."""
RELAY_S = 0.1  # how often a dispatcher looks for reports and cancels
CANCEL_GRACE_S = 5.0  # a job's process still running this long after a cancel is stopped


class Busy(DSCError):
    """The server takes no more jobs for now (full queue, or the session's limit reached)."""


class Job:
    """One training request: its config, progress events, outcome and cancel flag.

    ``state`` goes queued → running → done | failed | cancelled. ``stage`` is a short
    human-readable step ("loading data", "training", "saving", ...). Events from the job's
    process pile up in a thread-safe queue until the owning session drains them. ``owner``
    names the session that submitted it.
    """

    _ids = itertools.count(1)

    def __init__(self, config, owner: str = "") -> None:
        self.id = next(self._ids)
        self.config = config
        self.owner = owner
        self.state = "queued"
        self.stage = "waiting for a free worker"
        self.run = None
        self.error = ""
        self.submitted = time.monotonic()
        self.finished = threading.Event()
        self._cancel = threading.Event()
        self._events: queue.SimpleQueue = queue.SimpleQueue()

    @property
    def cancelled(self) -> bool:
        """Whether a cancel was requested."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; a running training stops at its next progress event."""
        self._cancel.set()

    def drain(self) -> list:
        """Events received since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def _report(self, event) -> None:
        self.stage = event.message or event.phase
        self._events.put(event)


def _context() -> multiprocessing.context.BaseContext:
    """ "forkserver" (fork from a clean process that preloaded the engine), else "spawn"."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _background() -> None:
    """Lower this process's OS priority by :data:`BACKGROUND_NICENESS` (where the OS lets it)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(BACKGROUND_NICENESS)


def _local_work(threads: int, *args) -> None:
    """A local job's process: :func:`dashboard.job_work.work` at background priority, its
    numerical libraries (OpenMP, BLAS) on ``threads`` threads: jobs that together start more
    threads than the machine has cores slow each other down many times over (their threads
    spin-wait)."""
    from dsc_core.threads import limited_threads

    _background()
    with limited_threads(threads):
        work(*args)


class JobManager:
    """Runs jobs, each in its own process, ``max_jobs`` at a time, each with its share of the
    machine's cores (``threads``); further jobs wait in a FIFO queue of at most
    ``queue_length``; one ``owner`` has at most ``per_owner`` jobs queued or running.

    Finished runs are saved to ``store`` (a ``dsc_core.runs.RunStore``) and read back, so
    ``job.run`` always has a ``name`` and a ``path``. Every job is in the store's journal
    from submission to its end. ``data_dirs``: the folders a job may read (``None``: any).
    On creation, the store is cleared of what interrupted saves left (``RunStore.recover``),
    and the scratch folder of the days stores of killed trainings (``clear_stale_scratch``).
    """

    def __init__(
        self,
        store,
        max_jobs: int = 2,
        queue_length: int = 8,
        per_owner: int = 1,
        data_dirs: Sequence[str | Path] | None = None,
        scheduler: str | None = None,
    ) -> None:
        self.store = store
        self.max_jobs = max_jobs
        self.queue_length = queue_length
        self.per_owner = per_owner
        self.data_dirs = None if data_dirs is None else [str(d) for d in data_dirs]
        self.threads = max(1, (os.cpu_count() or 1) // max_jobs)  # each job's share of cores
        for line in store.recover():
            log.warning("run store %s: %s", store.root, line)
        from dsc_core.pipeline import clear_stale_scratch

        for name in clear_stale_scratch():
            log.warning("scratch folder: removed %s, left by a training that was killed", name)
        self._ctx = _context()
        self._waiting: list[Job] = []
        self._active: set[Job] = set()
        self._journal: dict[Job, object] = {}
        self._lock = threading.Condition()
        self.adopted: list[Job] = []
        self._runner = None
        if scheduler:
            from dashboard.cluster import ClusterRunner

            self._runner = ClusterRunner(scheduler, store.root, self.data_dirs)
            self._adopt()
        else:
            threading.Thread(target=self._start_forkserver, daemon=True).start()
        for i in range(max_jobs):
            threading.Thread(target=self._worker, name=f"dsc-job-{i}", daemon=True).start()

    def _adopt(self) -> None:
        """Follow again the cluster's tasks that a former server started (``adopted``): each
        becomes a running job of no session, journalled anew (its old entry forgotten, so that
        it is not offered as interrupted)."""
        for request, proc, pipe in self._runner.adopt():
            try:
                config = task_config(request)
            except (KeyError, TypeError, ValueError, DSCError) as err:  # a tampered task.json
                log.warning("task folder %s not followed: %s", pipe.folder.name, err)
                continue
            job = Job(config)
            job.state, job.stage = "running", "training on the cluster (started before a restart)"
            if request.get("journal"):
                self.store.forget(request["journal"])
            measuring = isinstance(config, ChooseKRequest)
            self._journal[job] = None if measuring else self.store.journal(config)
            self._active.add(job)
            self.adopted.append(job)
            threading.Thread(target=self._finish, args=(job, proc, pipe), daemon=True).start()

    def _finish(self, job: Job, proc, conn) -> None:
        """Follow an adopted job to its end."""
        outcome = self._follow(job, proc, conn)
        with self._lock:
            self._end(job, *outcome)

    def _start_forkserver(self) -> None:
        """Start the process that job processes fork from (it imports the engine: seconds)."""
        proc = self._ctx.Process(target=int, daemon=True)
        proc.start()
        proc.join()

    def submit(self, config, owner: str = "") -> Job:
        """Queue a training of ``config`` (a ``RunConfig``) for ``owner``; Busy when the queue
        is full or ``owner`` has ``per_owner`` jobs queued or running."""
        with self._lock:
            # a cancelled job counts until its process has ended (within CANCEL_GRACE_S):
            # cancel-and-resubmit must not hold more than a session's share of the workers
            mine = sum(j.owner == owner for j in self._active)
            if owner and mine >= self.per_owner:
                raise Busy(
                    f"this session has {mine} training(s) queued, running or stopping, the "
                    f"most this server allows per session (DSC_JOBS_PER_SESSION="
                    f"{self.per_owner}): cancel one, or wait until it ends (a cancelled one "
                    f"stops within {CANCEL_GRACE_S:g} s)"
                )
            if len(self._waiting) >= self.queue_length:
                raise Busy(
                    f"the training queue is full ({len(self._waiting)} waiting, "
                    f"DSC_QUEUE_LENGTH={self.queue_length}): try again when a run has finished"
                )
            job = Job(config, owner)
            # a measurement of K leaves no run: nothing to offer again after a restart
            measuring = isinstance(config, ChooseKRequest)
            self._journal[job] = None if measuring else self.store.journal(config)
            self._waiting.append(job)
            self._active.add(job)
            self._lock.notify()
        return job

    def position(self, job: Job) -> int:
        """1-based place of ``job`` in the waiting queue; 0 when it is not waiting."""
        with self._lock:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    def cancel(self, job: Job) -> None:
        """Cancel ``job``: drop it from the queue, or stop it at its next progress event."""
        job.cancel()
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                self._end(job, "cancelled", "cancelled before it started")

    def _end(self, job: Job, state: str, stage: str, error: str = "") -> None:
        """Record ``job``'s outcome, take it out of the journal (an "interrupted" job stays
        there, for the next server to offer again); called with the lock held."""
        job.state, job.stage, job.error = state, stage, error
        self._active.discard(job)
        entry = self._journal.pop(job)
        if entry is not None and state != "interrupted":
            entry.close()
        job.finished.set()

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                job = self._waiting.pop(0)
                job.state, job.stage = "running", "starting"
            outcome = self._execute(job)
            with self._lock:
                self._end(job, *outcome)

    def _start(self, job: Job) -> tuple:
        """Start ``job``: ``(process, our end of its pipe)``, or a cluster task's stand-ins
        for them (:mod:`dashboard.cluster`)."""
        if self._runner is not None:
            entry = self._journal.get(job)
            return self._runner.start(job.config, getattr(entry, "token", None))
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_local_work,
            args=(self.threads, theirs, job.config, str(self.store.root), self.data_dirs),
            name=f"dsc-job-{job.id}",
            daemon=True,
        )
        try:
            proc.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return proc, ours

    def _execute(self, job: Job) -> tuple[str, str, str]:
        """Run ``job`` in its own process (or cluster task); its (state, stage, error)."""
        try:
            proc, conn = self._start(job)
        except Exception:  # the process or task could not start: a bug or a lost cluster
            log.exception("training job %s could not start", job.id)
            return "failed", "failed", "training could not start: see the server log"
        return self._follow(job, proc, conn)

    def _follow(self, job: Job, proc, conn) -> tuple[str, str, str]:
        """Relay ``job``'s reports from ``conn`` until its outcome; its (state, stage, error)."""
        try:
            report = self._relay(job, proc, conn)
        except Exception:  # its pipe broke: a bug
            log.exception("training job %s failed", job.id)
            report = ("crashed", "Error", "")
        finally:
            conn.close()
            proc.join(5)
        kind, *rest = report
        if kind == "table":
            return self._read_table(job, rest[0])
        if kind == "done":
            return self._read_run(job, rest[0])
        if kind == "cancelled":
            return "cancelled", "cancelled", ""
        if kind == "failed":
            return "failed", "failed", rest[0]
        return self._unexpected_end(job, kind, rest)

    @staticmethod
    def _read_table(job: Job, table: dict) -> tuple[str, str, str]:
        """Keep the choose-K ``table`` a job measured (columns as lists) as ``job.run``, by K."""
        import pandas as pd

        try:
            job.run = pd.DataFrame(table).set_index("K")
        except (KeyError, ValueError, TypeError):  # a tampered task folder
            return "failed", "failed", "the measured table could not be read"
        return "done", "done", ""

    def _read_run(self, job: Job, name: str) -> tuple[str, str, str]:
        """Load the run the job saved as ``name`` into ``job.run``."""
        try:
            job.stage = "reading the run"
            job.run = self.store.load(name)
        except DSCError as err:
            return "failed", "failed", str(err)
        return "done", "done", ""

    @staticmethod
    def _unexpected_end(job: Job, kind: str, rest: list) -> tuple[str, str, str]:
        """A job that crashed or whose process died (logged): failed, or interrupted when its
        server stopped it."""
        if kind == "crashed" and rest[1]:
            log.error("training job %s failed:\n%s", job.id, rest[1])
        elif kind == "died" and (_stopping.is_set() or rest[0] in STOP_SIGNALS):
            log.warning("training job %s: stopped with the server; offered again", job.id)
            return "interrupted", "interrupted by a server stop", ""
        elif kind == "died":
            log.error("training job %s: its process died (exit status %s)", job.id, rest[0])
        name = rest[0] if kind == "crashed" else f"its process died, exit status {rest[0]}"
        return "failed", "failed", f"training failed unexpectedly ({name}): see the server log"

    def _relay(self, job: Job, proc, conn) -> tuple:
        """Pass ``proc``'s events to ``job`` and a cancel to ``proc`` until it reports its
        outcome (or dies); stop it when it runs on too long after a cancel."""
        cancelled_at = None
        while True:
            if job.cancelled and cancelled_at is None:
                cancelled_at = time.monotonic()
                with contextlib.suppress(OSError):
                    conn.send("cancel")
            if (
                cancelled_at is not None
                and time.monotonic() - cancelled_at > CANCEL_GRACE_S
                and job.stage != "saving"
            ):
                log.warning("training job %s ignored its cancel: stopping its process", job.id)
                proc.terminate()
                proc.join()
                for line in self.store.recover():  # the temporary folder it may have left
                    log.warning("run store %s: %s", self.store.root, line)
                return ("cancelled",)
            try:
                if not conn.poll(RELAY_S):
                    continue
                message = conn.recv()
            except EOFError:  # the process ended without an outcome
                proc.join()
                return ("died", proc.exitcode)
            if message[0] == "event":
                job._report(message[1])
            elif message[0] == "stage":
                job.stage = message[1]
            else:
                return message


STOP_SIGNALS = (-signal.SIGTERM, -signal.SIGINT)
"""Exit statuses of a job process stopped with its server (SIGTERM, or Ctrl-C's SIGINT to the
whole process group): the job was interrupted, not failed."""
_stopping = threading.Event()
"""Set when this process begins to exit: the job processes that die from then on (Python
ends its daemonic children at exit) were interrupted by the stop, not failed."""
threading._register_atexit(_stopping.set)  # runs before the children are ended


def pca2(latent: np.ndarray) -> np.ndarray:
    """First two principal components of ``latent`` (day, latent) → (day, 2); instant."""
    x = np.asarray(latent, dtype=np.float64)
    x = x - x.mean(axis=0)
    if x.shape[1] < 2:
        return np.column_stack([x[:, 0] if x.shape[1] else np.zeros(len(x)), np.zeros(len(x))])
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def umap2(latent: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP of ``latent`` (day, latent) → (day, 2) float32; PCA below 10 days."""
    x = np.asarray(latent, dtype=np.float32)
    if len(x) < 10:
        return pca2(x).astype(np.float32)
    umap = _umap_compiled_once()
    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1
    )
    return reducer.fit_transform(x).astype(np.float32)


UMAP_NUMBA_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances", "umap.sparse")


@functools.cache
def _umap_compiled_once():
    """``umap``, its numba functions cached on disk (numba's own ``enable_caching``). umap
    caches few of them: without this, every new process spends ~25 s compiling before its
    first embedding (a server start, each test server); with it, the first process writes
    the cache beside umap's code and later ones read it in a fraction of a second. Where the
    cache cannot be written, umap compiles as before."""
    import importlib

    import umap
    from numba.core.registry import CPUDispatcher

    for name in UMAP_NUMBA_MODULES:
        for function in vars(importlib.import_module(name)).values():
            if isinstance(function, CPUDispatcher):
                with contextlib.suppress(RuntimeError):  # numba finds no writable cache folder
                    function.enable_caching()
    return umap


def embedding(run) -> np.ndarray:
    """The run's 2-D UMAP embedding (day, 2), from ``umap.nc`` in the run folder or computed
    and cached there (see :func:`cached_umap`)."""
    folder = str(run.path) if getattr(run, "path", None) else None
    seed = int(getattr(run.config, "seed", 0) or 0)
    return cached_umap(folder, run.latent.values, run.latent["time"].values, seed)


def cached_umap(folder: str | None, latent: np.ndarray, time: np.ndarray, seed: int) -> np.ndarray:
    """UMAP of ``latent`` (day, latent) → (day, 2), cached as ``folder/umap.nc`` (written to a
    temporary file and renamed, so readers never see half a file). Runs in the UMAP process."""
    import xarray as xr

    from dsc_core.data.io import NETCDF_LOCK

    path = Path(folder) / UMAP_FILE if folder else None
    if path is not None and path.exists():
        with NETCDF_LOCK, xr.open_dataset(path) as ds:
            xy = ds["umap"].values
        if xy.shape == (len(latent), 2):
            return xy
    xy = umap2(latent, seed=seed)
    if path is not None:
        tmp = path.with_suffix(".tmp")
        cache = xr.Dataset({"umap": (("time", "component"), xy)}, coords={"time": time})
        try:
            with NETCDF_LOCK:
                cache.to_netcdf(tmp)
            tmp.replace(path)
        except OSError as err:  # a run store mounted read-only (a gallery): no cache, same map
            log.warning("cannot cache the UMAP in %s: %s", folder, err)
    return xy


_pool_lock = threading.Lock()
_pool: dict[str, ProcessPoolExecutor] = {}


def _umap_process() -> ProcessPoolExecutor:
    """One worker process for UMAP (numba compiles hold the GIL for seconds: a separate
    process keeps the server's event loop and the job dispatchers free)."""
    with _pool_lock:
        if "pool" not in _pool:
            _pool["pool"] = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_background
            )
            # concurrent.futures waits at exit for the task running (the warm-up compiles for
            # ~15 s): end the process first, so that a stopped server exits at once. Exit hooks
            # of threading run last-registered first, so this one runs before the pool's.
            threading._register_atexit(_end_umap_process)
        return _pool["pool"]


def _end_umap_process() -> None:
    """Terminate the UMAP worker process (at interpreter exit)."""
    for proc in list(_pool["pool"]._processes.values()):
        proc.terminate()


def embedding_future(run) -> Future:
    """Compute :func:`embedding` of ``run`` in the UMAP process."""
    folder = str(run.path) if getattr(run, "path", None) else None
    seed = int(getattr(run.config, "seed", 0) or 0)
    latent = np.asarray(run.latent.values)
    return _umap_process().submit(cached_umap, folder, latent, run.latent["time"].values, seed)


_warm_lock = threading.Lock()
_warm: dict[str, Future] = {}


def warm_up() -> Future:
    """Once per process, in the UMAP process: compile UMAP's numba code on a tiny problem and
    read the engine's methods and presets; the result is :func:`engine_options`. Meanwhile a
    thread of this process imports the engine (torch: seconds), so that the first Train does
    not import it on the event loop."""
    with _warm_lock:
        if "future" not in _warm:
            _warm["future"] = _umap_process().submit(_warm_up)
            threading.Thread(target=engine_options, name="dsc-import", daemon=True).start()
        return _warm["future"]


def compile_umap() -> None:
    """Compile UMAP's numba code on a tiny problem (~25 s the first time on an installation;
    cached on disk, a fraction of a second after: see :func:`_umap_compiled_once`)."""
    umap2(np.random.default_rng(0).normal(size=(40, 4)))


def _warm_up() -> dict:
    started = time.perf_counter()
    compile_umap()
    info = engine_options()
    log.info("warm-up done in %.1f s", time.perf_counter() - started)
    return info


def engine_options() -> dict:
    """Methods (name → description) and model presets the engine offers."""
    from dsc_core.baselines import METHODS
    from dsc_core.model import PRESETS

    return {"methods": dict(METHODS), "presets": list(PRESETS)}


_managers: dict[tuple, JobManager] = {}
_managers_lock = threading.Lock()


def manager(server, store_factory: Callable) -> JobManager:
    """The process-wide :class:`JobManager` for ``server`` (a ``ServerConfig``; created on
    first use, on the store ``store_factory(server.run_store)``)."""
    key = (str(server.run_store), server.max_jobs, server.scheduler)
    with _managers_lock:
        if key not in _managers:
            _managers[key] = JobManager(
                store_factory(server.run_store),
                max_jobs=server.max_jobs,
                queue_length=server.queue_length,
                per_owner=server.jobs_per_session,
                data_dirs=server.data_dirs,
                scheduler=server.scheduler,
            )
        return _managers[key]
