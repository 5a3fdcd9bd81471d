"""One browser session (:class:`Session`): it owns the settings, the job status and the
results, talks to the job manager and the run store, and :meth:`Session.poll` (a periodic
callback on the session's event loop) is the only place where background results enter the
page's state. No file is read on the event loop: describing a source and reading a stored run
happen in the I/O threads (:func:`dashboard.caches.io_pool`).
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import numpy as np
import pandas as pd
import param

from dashboard import jobs
from dashboard.caches import describe_cached, io_pool, load_run_cached
from dashboard.config import SAMPLE, ServerConfig
from dashboard.job_status import JobStatus
from dashboard.results import Results
from dashboard.settings import Settings, day, read_size
from dsc_core.errors import DSCError

log = logging.getLogger(__name__)


def _comparison(run, store, name: str) -> dict:
    """:func:`dsc_core.regimes.compare_runs` of ``run`` (A) and the stored run ``name`` (B), as
    tables for the page."""
    from dsc_core.regimes import compare_runs

    other = load_run_cached(store, name)
    result = compare_runs(run, other)
    table = pd.DataFrame(
        result["contingency"],
        index=pd.Index([f"A {i}" for i in range(len(result["contingency"]))], name="days"),
        columns=[f"B {j}" for j in range(result["contingency"].shape[1])],
    )
    pairs = None
    if result["pairs"] is not None:
        pairs = pd.DataFrame(
            {
                "cluster of A": result["pairs"][:, 0],
                "matched cluster of B": result["pairs"][:, 1],
                "pattern correlation": np.round(result["correlations"], 3),
            }
        )
    return {"a": run.name, "b": other.name, "n_days": result["n_days"], "ari": result["ari"],
            "contingency": table, "pairs": pairs}  # fmt: skip


@functools.cache
def assign_pool() -> futures.ThreadPoolExecutor:
    """The thread that labels new days with a stored run (Assign) for the sessions of this
    process: one at a time, apart from the I/O threads, so that it never delays a page's
    loading of a run."""
    return futures.ThreadPoolExecutor(1, thread_name_prefix="dsc-assign")


ASSIGN_QUEUE = 4
"""At most this many Assign requests of all sessions wait or run at once."""
_assign_slots = threading.BoundedSemaphore(ASSIGN_QUEUE)


def _assignment(
    run, source: str, start: str | None, end: str | None, server: ServerConfig
) -> pd.DataFrame:
    """``run.assign`` of the days of ``source`` from ``start`` to ``end``: (time, cluster);
    ConfigError before reading when that is over the server's size limit."""
    config, info = run.config, describe_cached(source)
    n_variables = len(config.variables or info["variables"])
    size = read_size(info, day(start), day(end), config.bbox, n_variables, config.months)
    server.check_size(*size)
    labels = run.assign(source, start=start, end=end)
    return pd.DataFrame({"time": labels["time"].values, "cluster": labels.values})


SWEEP_ROWS, SWEEP_COLUMNS = 200, 12
"""The most rows and columns of a sweep's summary a page shows (a sweep has a row per method
and K; a larger file is someone else's)."""


def _sweep_summary(root: Path) -> pd.DataFrame | None:
    """``dsc sweep``'s K-selection summary in the run store ``root`` (None: none, or
    unreadable)."""
    from dsc_core.sweep import SUMMARY_FILE

    path = Path(root) / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, nrows=SWEEP_ROWS).set_index(["method", "K"])
        return table.iloc[:, :SWEEP_COLUMNS]
    except (OSError, ValueError, KeyError):
        log.warning("cannot read the sweep summary %s", path)
        return None


class Session(param.Parameterized):
    """One browser session: settings, the current job, the results, the list of past runs and
    the runs a server stop interrupted."""

    runs = param.List(default=[], doc="RunStore.list() summaries, newest first")
    interrupted = param.List(default=[], doc="RunStore.interrupted() entries, oldest first")
    sweep = param.DataFrame(default=None, allow_None=True, doc="dsc sweep's K summary, if any")
    adopted = param.List(default=[], doc="{id, config, stage} of cluster trainings that a "
                         "former server started, still running")  # fmt: skip
    run_name = param.String(default="", doc="name of the run on screen")
    message = param.String(default="", doc="one-line notice for the user")
    busy = param.Dict(default={}, doc="what the server still does for this page's clicks, in "
                      "words: 'load', 'compare', 'assign' → e.g. 'reading run …'")  # fmt: skip
    engine_ready = param.Boolean(default=False)
    k_range = param.Range(default=(2, 8), bounds=(2, 15), doc="Ks to measure")
    k_seeds = param.Integer(default=3, bounds=(2, 10), doc="seeds per K")
    k_table = param.DataFrame(default=None, allow_None=True, doc="choose_k() of the settings")
    k_settings = param.String(default="", doc="what k_table measured, in words")
    comparison = param.Dict(default=None, allow_None=True, doc="compare_runs() for the page")
    assign_start = param.CalendarDate(default=None, allow_None=True, doc="first day to assign")
    assign_end = param.CalendarDate(default=None, allow_None=True, doc="last day to assign")
    assigned = param.DataFrame(default=None, allow_None=True, doc="time, cluster of new days")

    def __init__(self, server: ServerConfig, manager, store, **params):
        super().__init__(**params)
        self.id = uuid.uuid4().hex
        self.server = server
        self.manager = manager
        self.store = store
        self.settings = Settings(sources=server.sources(), server=server)
        self.status = JobStatus()
        self.results = Results()
        self.results.label = server.label
        self.job: jobs.Job | None = None
        self._earlier: list[jobs.Job] = []  # this session's older jobs, still queued or running
        self._loading: futures.Future | None = None
        self._comparing: futures.Future | None = None
        self._assigning: futures.Future | None = None
        self._embedding = None
        self._train_when_ready = False
        self._replay: str | None = None  # the interrupted run "Start again" is training
        self.refresh_runs()

    def notify(self, text: str) -> None:
        """Show ``text`` to the user as one line, server paths named as the page names them."""
        self.message = self.server.label(text)

    # ---- runs -------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """Re-read the run store's list of past runs and of interrupted ones."""
        try:
            runs, interrupted = self.store.list(), self.store.interrupted()
        except Exception:  # an unreadable run folder must not break the page
            log.exception("cannot list the run store %s", self.server.run_store)
            runs, interrupted = [], []
        self.runs = sorted(runs, key=lambda r: str(r.get("created", "")), reverse=True)
        self.interrupted = interrupted
        self.sweep = _sweep_summary(self.store.root)
        self.adopted = [
            {"id": j.id, "config": j.config.to_dict(), "stage": j.stage}
            for j in getattr(self.manager, "adopted", [])
            if not j.finished.is_set() and j is not self.job and hasattr(j.config, "to_dict")
        ]

    def follow(self, job_id: int) -> None:
        """Show the progress, then the run, of a cluster training a former server started."""
        job = next((j for j in self.manager.adopted if j.id == job_id), None)
        if job is None or job.finished.is_set():
            self.message = "that training has ended: its run is in the list of past runs"
            self.refresh_runs()
            return
        if self.job is not None and not self.job.finished.is_set():
            self._earlier.append(self.job)
        self.job = job
        self.status.reset("running")
        self.refresh_runs()
        self.poll()

    def load_run(self, name: str) -> None:
        """Show the stored run ``name`` (no retraining) once an I/O thread has read it."""
        self._loading = io_pool().submit(load_run_cached, self.store, name)
        self._working("load", f"reading run {name}")

    def show(self, run) -> None:
        """Put ``run`` on screen and start its UMAP in the background."""
        self.results.set_run(run)
        self.run_name = str(getattr(run, "name", "") or "")
        self._embedding = (run, jobs.embedding_future(run))
        self.message = ""

    def _refused(self, action: str) -> bool:
        """True (and the page says why) when this server is a read-only gallery."""
        try:
            self.server.check_writable(action)
        except DSCError as err:
            self.notify(str(err))
            return True
        return False

    def restart(self, token: str) -> None:
        """Train the interrupted run ``token`` again, with its settings, if the page could have
        started it (:meth:`ServerConfig.check_replay`); its journal entry goes once the job is
        accepted (:meth:`poll`)."""
        if self._refused("training"):
            return
        entry = next((e for e in self.store.interrupted() if e.get("token") == token), None)
        if entry is None:
            self.refresh_runs()
            self.message = "that run was started again or dismissed already"
            return
        config = entry["config"]
        if config.get("data", SAMPLE) not in self.settings.param.source.objects:
            self.notify(
                f"the interrupted run's data source {config.get('data')} is no longer offered: "
                "pick another source"
            )
            return
        try:
            self.server.check_replay(config)
        except DSCError as err:
            self.notify(str(err))
            return
        self.settings.apply(config)
        self._replay = token
        self._train_when_ready = True

    def _replayed(self, accepted: bool) -> None:
        """After the training of "Start again" was submitted: forget its journal entry if the
        job was accepted; if another page started the same entry first, stop this copy."""
        token, self._replay = self._replay, None
        if token is None or not accepted:
            return
        if self.store.forget(token) is None:
            self.manager.cancel(self.job)
            self.message = "that run was started again from another page: this copy is stopped"
        self.refresh_runs()

    def dismiss(self, token: str) -> None:
        """Forget the interrupted run ``token``."""
        if self._refused("changing the run store"):
            return
        self.store.forget(token)
        self.refresh_runs()

    def compare(self, name: str) -> None:
        """Compare the run on screen with the stored run ``name`` (read in an I/O thread)."""
        if self.results.run is None or not name:
            self.message = "load or train a run first, then choose another run to compare with"
            return
        self._comparing = io_pool().submit(_comparison, self.results.run, self.store, name)
        self._working("compare", f"comparing with run {name}")

    def assign(self, source: str) -> None:
        """Label the days ``assign_start``–``assign_end`` of ``source`` (a path of the source
        list, or the sample) with the run on screen's model, in an I/O thread."""
        run = self.results.run
        if self._refused("Assign"):
            return
        if run is None:
            self.message = "load or train a run first, then assign another period to it"
            return
        try:
            source = self.server.check_source(source)
        except DSCError as err:
            self.notify(str(err))
            return
        if self._assigning is not None:
            self.message = "this page is already labelling days: wait until that has finished"
            return
        if not _assign_slots.acquire(blocking=False):
            self.message = (
                f"the server is labelling days for other pages ({ASSIGN_QUEUE} requests): "
                "try again in a moment"
            )
            return
        start, end = (d.isoformat() if d else None for d in (self.assign_start, self.assign_end))
        self.assigned = None
        self._assigning = assign_pool().submit(_assignment, run, source, start, end, self.server)
        self._assigning.add_done_callback(lambda _: _assign_slots.release())
        self._working("assign", "labelling the days")

    # ---- jobs -------------------------------------------------------------------------
    def measure_k(self) -> None:
        """Queue a measurement of every K in ``k_range`` for the current settings
        (:func:`dsc_core.choose_k.choose_k`), like a training."""
        from dsc_core.choose_k import ChooseKRequest

        try:
            config = self.settings.to_config()
        except DSCError as err:
            self.notify(str(err))
            return
        ks = list(range(self.k_range[0], self.k_range[1] + 1))
        self.k_settings = (
            f"{config.method}, K {ks[0]}–{ks[-1]}, {self.k_seeds} seeds, "
            f"{self.server.label(str(config.data))}"
        )
        self._submit(ChooseKRequest(config, ks, self.k_seeds, self.server.measure_k_minutes))

    def train(self) -> None:
        """Submit a training of the current settings (the server's limits apply)."""
        try:
            config = self.settings.to_config()
        except DSCError as err:
            self.notify(str(err))
            return
        self._submit(config)

    def _submit(self, request) -> None:
        """Queue ``request`` (a training or a Measure K) in the job manager; a read-only
        gallery refuses it, whatever the client sent."""
        if self._refused("training and Measure K"):
            return
        try:
            job = self.manager.submit(request, owner=self.id)
        except DSCError as err:
            self.notify(str(err))
            return
        if self.job is not None and not self.job.finished.is_set():
            self._earlier.append(self.job)
        self.job = job
        self.message = ""
        self.status.reset("queued")
        self.poll()

    def cancel(self) -> None:
        """Stop this session's job (queued or running)."""
        if self.job is not None and not self.job.finished.is_set():
            self.manager.cancel(self.job)
            self.status.stage = "cancelling"

    def close(self) -> None:
        """The browser session ended: cancel the jobs it submitted (not the ones it followed)."""
        for job in [*self._earlier, self.job]:
            if job is not None and job.owner == self.id and not job.finished.is_set():
                self.manager.cancel(job)

    def open(self) -> None:
        """Session start: show the newest stored run, else start a first run on the sample at
        the first :meth:`poll` (so a server's warm-up session, which is never polled, does
        not train), unless a server stop interrupted runs: the page offers those instead."""
        if self.runs:
            self.load_run(self.runs[0]["name"])
        elif self.server.autostart and not self.interrupted and not self.server.read_only:
            self._train_when_ready = True

    def poll(self) -> None:
        """Copy background results (source description, job events and outcome, stored run,
        UMAP, warm-up) into the state."""
        self.settings.poll()
        if self._train_when_ready and self.settings.ready:
            self._train_when_ready = False
            before = self.job
            self.train()
            self._replayed(accepted=self.job is not before)
        warm = jobs.warm_up()
        if not self.engine_ready and warm.done():
            if warm.exception() is None:
                options = warm.result()
            else:
                log.error("warm-up failed", exc_info=warm.exception())
                options = jobs.engine_options()
            self.settings.set_engine_options(options)
            self.engine_ready = True
        self._poll_job()
        self._apply("load", self.show, "cannot read that run (a damaged run folder?)")
        self._apply("compare", lambda result: setattr(self, "comparison", result),
                    "cannot compare with that run (a damaged run folder?)")  # fmt: skip
        self._apply("assign", lambda result: setattr(self, "assigned", result),
                    "cannot label those days with this run")  # fmt: skip
        if self._embedding is not None and self._embedding[1].done():
            run, future = self._embedding
            self._embedding = None
            if run is self.results.run:
                if future.exception() is None:
                    self.results.param.update(embedding=future.result(), embedding_kind="UMAP")
                else:
                    log.error("UMAP failed", exc_info=future.exception())
                    self.results.embedding_kind = "PCA (UMAP failed: see the server log)"

    FUTURES = {"load": "_loading", "compare": "_comparing", "assign": "_assigning"}
    """The attribute holding each background action's future."""

    def _working(self, action: str, words: str) -> None:
        """The page's note for ``action`` says ``words`` until its future is applied."""
        self.busy = {**self.busy, action: words}

    def _apply(self, action: str, use: Callable, failure: str) -> None:
        """Once the I/O thread's future of ``action`` is done: ``use(result)``; a DSCError
        becomes the page's message, anything else (a damaged file must not break the page)
        ``failure`` and the server log."""
        name = self.FUTURES[action]
        future = getattr(self, name)
        if future is None or not future.done():
            return
        setattr(self, name, None)
        self.busy = {k: v for k, v in self.busy.items() if k != action}
        try:
            use(future.result())
        except DSCError as err:
            self.notify(str(err))
        except Exception as err:
            log.error(failure, exc_info=err)
            self.message = f"{failure}: see the server log"

    def _poll_job(self) -> None:
        """Refresh the runs when another job ends; show this session's job's progress and,
        once it ends, its outcome."""
        self._poll_other_jobs()
        job = self.job
        if job is None:
            return
        self._show_progress(job)
        if not job.finished.is_set():
            return
        self.job = None
        if job.state == "done" and isinstance(job.run, pd.DataFrame):
            self._show_k_table(job)
        elif job.state == "done":
            self.status.param.update(progress=100, phase="done")
            self.refresh_runs()
            self.show(job.run)
        elif job.state == "failed":
            self.status.error = self.server.label(job.error)
            self.notify(job.error)

    def _poll_other_jobs(self) -> None:
        """Refresh the runs when a training that a former server started, or one of this session's
        earlier jobs that saved a run, has ended."""
        ended = {j.id for j in getattr(self.manager, "adopted", []) if j.finished.is_set()}
        if any(entry["id"] in ended for entry in self.adopted):
            self.refresh_runs()
        for job in [j for j in self._earlier if j.finished.is_set()]:
            self._earlier.remove(job)
            if job.state == "done":
                self.refresh_runs()

    def _show_progress(self, job: jobs.Job) -> None:
        """The job's new events, state, stage and place in the queue on the status panel."""
        self.status.add_events(job.drain())
        stage = self.server.label(job.stage)
        if job.state != self.status.state or stage != self.status.stage:
            self.status.param.update(state=job.state, stage=stage)
        position = self.manager.position(job) if job.state == "queued" else 0
        if position != self.status.position:
            self.status.position = position

    def _show_k_table(self, job: jobs.Job) -> None:
        """The choose-K table a job measured, noting the K its time budget left unmeasured."""
        self.status.param.update(progress=100, phase="done")
        unmeasured = [k for k in job.config.ks if k not in job.run.index]
        if unmeasured:
            self.k_settings += (
                f"; K {unmeasured[0]}–{unmeasured[-1]} not measured: the server's time "
                f"budget of {self.server.measure_k_minutes} min (DSC_MEASURE_K_MINUTES) ran out"
            )
        self.k_table = job.run
