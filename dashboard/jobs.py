"""Background work for the dashboard: training jobs, UMAP embeddings, warm-up.

Everything here runs off the server's event loop: trainings in daemon threads shared by all
sessions of the process, UMAP (and the numba warm-up) in one worker process, so that
compilation never holds the server's GIL. Nothing here touches a Panel object: a session polls
its :class:`Job` (and the embedding future) from a periodic callback on its own event loop and
copies what it finds into its param state.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dsc_core.errors import Cancelled, DSCError

log = logging.getLogger(__name__)

UMAP_FILE = "umap.nc"


class Job:
    """One training request: its config, progress events, outcome and cancel flag.

    ``state`` goes queued → running → done | failed | cancelled. ``stage`` is a short
    human-readable step ("loading data", "training", "saving", ...). Events from the engine
    pile up in a thread-safe queue until the owning session drains them.
    """

    _ids = itertools.count(1)

    def __init__(self, config, data=None) -> None:
        self.id = next(self._ids)
        self.config = config
        self.data = data
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
        """Ask the job to stop; a running training raises Cancelled at its next event."""
        self._cancel.set()

    def callback(self, event) -> None:
        """Engine callback: queue ``event`` (a ``dsc_core.training.Event``) or cancel."""
        if self._cancel.is_set():
            raise Cancelled("training cancelled from the page")
        self.stage = event.message or event.phase
        self._events.put(event)

    def drain(self) -> list:
        """Events received since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out


class JobManager:
    """Runs jobs on ``max_jobs`` worker threads; further jobs wait in a FIFO queue.

    Finished runs are saved to ``store`` (a ``dsc_core.runs.RunStore``), so ``job.run``
    always has a ``name`` and a ``path``.
    """

    def __init__(self, store, max_jobs: int = 2) -> None:
        self.store = store
        self.max_jobs = max_jobs
        self._waiting: list[Job] = []
        self._lock = threading.Condition()
        self._threads = [
            threading.Thread(target=self._worker, name=f"dsc-job-{i}", daemon=True)
            for i in range(max_jobs)
        ]
        for t in self._threads:
            t.start()

    def submit(self, config, data=None) -> Job:
        """Queue a training of ``config`` (a ``RunConfig``); ``data`` overrides loading."""
        job = Job(config, data)
        with self._lock:
            self._waiting.append(job)
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
                job.state = "cancelled"
                job.stage = "cancelled before it started"
                job.finished.set()

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                job = self._waiting.pop(0)
            self._execute(job)

    def _execute(self, job: Job) -> None:
        from dsc_core.pipeline import run

        job.state, job.stage = "running", "loading data"
        try:
            result = run(job.config, callbacks=[job.callback], data=job.data)
            job.stage = "saving"
            self.store.save(result)  # sets result.path and result.name
            job.run = result
            job.state, job.stage = "done", "done"
        except Cancelled:
            job.state, job.stage = "cancelled", "cancelled"
        except DSCError as err:
            job.state, job.stage, job.error = "failed", "failed", str(err)
        except Exception as err:  # a bug, not a user error: keep the page alive, log it
            log.exception("training job %s failed", job.id)
            job.state, job.stage = "failed", "failed"
            job.error = f"training failed unexpectedly ({type(err).__name__}: {err})"
        finally:
            job.data = None
            job.finished.set()


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
    import umap

    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1
    )
    return reducer.fit_transform(x).astype(np.float32)


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

    path = Path(folder) / UMAP_FILE if folder else None
    if path is not None and path.exists():
        with xr.open_dataset(path) as ds:
            xy = ds["umap"].values
        if xy.shape == (len(latent), 2):
            return xy
    xy = umap2(latent, seed=seed)
    if path is not None:
        tmp = path.with_suffix(".tmp")
        xr.Dataset({"umap": (("time", "component"), xy)}, coords={"time": time}).to_netcdf(tmp)
        tmp.replace(path)
    return xy


_pool_lock = threading.Lock()
_pool: dict[str, ProcessPoolExecutor] = {}


def _umap_process() -> ProcessPoolExecutor:
    """One worker process for UMAP (numba compiles hold the GIL for seconds: a separate
    process keeps the server's event loop and the training threads free)."""
    with _pool_lock:
        if "pool" not in _pool:
            _pool["pool"] = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return _pool["pool"]


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
    read the engine's methods and presets; the result is :func:`engine_options`."""
    with _warm_lock:
        if "future" not in _warm:
            _warm["future"] = _umap_process().submit(_warm_up)
        return _warm["future"]


def _warm_up() -> dict:
    started = time.perf_counter()
    umap2(np.random.default_rng(0).normal(size=(40, 4)))
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


def manager(store_root: str | Path, max_jobs: int, store_factory: Callable) -> JobManager:
    """The process-wide :class:`JobManager` for ``store_root`` (created on first use)."""
    key = (str(store_root), max_jobs)
    with _managers_lock:
        if key not in _managers:
            _managers[key] = JobManager(store_factory(store_root), max_jobs)
        return _managers[key]
