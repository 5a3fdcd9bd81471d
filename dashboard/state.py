"""The dashboard's state: a few ``param.Parameterized`` classes that the views are functions of.

- :class:`Settings`: the run to train (data source, variables, dates, method, ...).
- :class:`JobStatus`: progress of the session's training job.
- :class:`Results`: the run on screen, the chosen variable, and the linked selection of days.
- :class:`Session`: one browser session: owns the three above, talks to the job manager and
  the run store; :meth:`Session.poll` (a periodic callback on the session's event loop) is
  the only place where background results enter the state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import threading

import numpy as np
import pandas as pd
import param

from dashboard import jobs
from dashboard.config import SAMPLE, ServerConfig
from dsc_core.errors import DSCError

log = logging.getLogger(__name__)

FALLBACK_METHODS = {"dsc": "Deep Spatiotemporal Clustering"}


def _day(value) -> dt.date | None:
    return None if value in (None, "") else pd.Timestamp(value).date()


def describe_cached(source: str) -> dict:
    """``dsc_core.data.describe(source)``, remembered per source and modification time (the
    sample's description never changes), so that a new session does not rebuild the sample."""
    import os

    stamp = 0.0 if source == SAMPLE else os.stat(source).st_mtime
    return _describe(source, stamp)


@functools.lru_cache(maxsize=64)
def _describe(source: str, stamp: float) -> dict:
    from dsc_core.data import describe

    return describe(source)


_RUNS: dict[tuple, object] = {}
_RUNS_LOCK = threading.Lock()
RUN_CACHE_SIZE = 4


def load_run_cached(store, name: str):
    """``store.load(name)``, shared by the sessions of this process: a run directory does not
    change once written (a rewrite changes its config.json's time, and so the cache key)."""
    config = store.root / name / "config.json"
    key = (str(store.root), name, config.stat().st_mtime_ns if config.exists() else 0)
    with _RUNS_LOCK:
        if key in _RUNS:
            return _RUNS[key]
    run = store.load(name)
    with _RUNS_LOCK:
        _RUNS[key] = run
        while len(_RUNS) > RUN_CACHE_SIZE:
            _RUNS.pop(next(iter(_RUNS)))
    return run


class Settings(param.Parameterized):
    """What the next training uses; ``info`` is ``dsc_core.data.describe`` of the source."""

    source = param.Selector(default=SAMPLE, objects=[SAMPLE], doc="Data source")
    variables = param.ListSelector(default=[], objects=[], doc="Variables")
    start = param.CalendarDate(default=None, allow_None=True, doc="First day")
    end = param.CalendarDate(default=None, allow_None=True, doc="Last day")
    clusters = param.Integer(default=4, bounds=(2, 20), doc="Number of clusters")
    method = param.Selector(default="dsc", objects=["dsc"], doc="Method")
    window = param.Selector(
        default=0, objects=[0, 1, 3, 5, 7, 9, 11], doc="Window length (days; 0: the preset's)"
    )
    bbox = param.List(default=None, allow_None=True, doc="(lat_min, lat_max, lon_min, lon_max)")
    deseasonalize = param.Boolean(default=True, doc="Remove the seasonal cycle")
    preset = param.Selector(default="default", objects=["default"], doc="Model preset")
    seed = param.Integer(default=0, bounds=(0, None), doc="Random seed")
    info = param.Dict(default={}, doc="describe() of the source")
    error = param.String(default="", doc="Why the source cannot be used")
    method_help = param.Dict(default=dict(FALLBACK_METHODS))
    params = param.Dict(default={}, doc="extra estimator settings (RunConfig.params)")

    def __init__(self, sources: dict[str, str] | None = None, server=None, **params):
        super().__init__(**params)
        self._server = server
        self.sources = sources or {"Built-in sample (SYNTHETIC)": SAMPLE}
        self.param.source.objects = list(self.sources.values())
        self._apply_defaults(server.default_run if server else {})

    def _apply_defaults(self, overrides: dict) -> None:
        """Start from RunConfig's defaults (the engine decides what a good run is), then the
        server's ``DSC_DEFAULT_RUN`` overrides."""
        from dsc_core.pipeline import RunConfig

        defaults = {**RunConfig().to_dict(), **overrides}
        names = (
            "method",
            "window",
            "deseasonalize",
            "preset",
            "seed",
            "clusters",
            "params",
            "bbox",
        )
        for name in names:
            value = defaults.get(name)
            if value is None:
                continue
            if name in ("method", "preset") and value not in self.param[name].objects:
                self.param[name].objects = [*self.param[name].objects, value]
            if name == "bbox":
                value = [float(v) for v in value]
            if name == "window" and value not in self.param.window.objects:
                self.param.window.objects = [*self.param.window.objects, value]
            setattr(self, name, value)
        source = defaults.get("data", SAMPLE)
        if source in self.param.source.objects:
            self.source = source
        self.describe()
        if self.error:
            return
        if defaults.get("variables"):
            self.variables = [v for v in defaults["variables"] if v in self.param.variables.objects]
        for name in ("start", "end"):
            if defaults.get(name):
                setattr(self, name, _day(defaults[name]))

    def set_engine_options(self, options: dict) -> None:
        """Fill the method and preset choices from ``jobs.engine_options()``."""
        self.method_help = dict(options["methods"])
        self.param.method.objects = list(options["methods"])
        self.param.preset.objects = list(options["presets"])

    @param.depends("source", watch=True)
    def describe(self) -> None:
        """Read what the source holds (cheap) and fill variables and dates; errors → ``error``."""
        try:
            source = self._server.check_source(self.source) if self._server else self.source
            info = describe_cached(source)
        except DSCError as err:
            self.error, self.info = str(err), {}
            self.param.variables.objects = []
            self.variables = []
            return
        except Exception as err:  # an unreadable file is a user problem, not a crash
            log.exception("describe(%s) failed", self.source)
            self.error = f"cannot read {self.source}: {type(err).__name__}: {err}"
            self.info = {}
            return
        self.error = ""
        self.info = info
        names = list(info["variables"])
        self.param.variables.objects = names
        self.variables = names
        self.param.start.bounds = (_day(info["start"]), _day(info["end"]))
        self.param.end.bounds = (_day(info["start"]), _day(info["end"]))
        self.start, self.end = _day(info["start"]), _day(info["end"])

    @property
    def synthetic(self) -> bool:
        """Whether the source is synthetic (the built-in sample)."""
        return bool(self.info.get("synthetic")) or self.source == SAMPLE

    def to_config(self):
        """The ``RunConfig`` of these settings (validated: ConfigError on bad input)."""
        from dsc_core.pipeline import RunConfig

        if self.error:
            raise DSCError(self.error)
        source = self._server.check_source(self.source) if self._server else self.source
        fields = {f.name for f in dataclasses.fields(RunConfig)}
        values = dict(
            data=source,
            variables=list(self.variables) or None,
            start=self.start.isoformat() if self.start else None,
            end=self.end.isoformat() if self.end else None,
            clusters=self.clusters,
            method=self.method,
            window=self.window or None,
            bbox=tuple(self.bbox) if self.bbox else None,
            deseasonalize=self.deseasonalize,
            preset=self.preset,
            seed=self.seed,
            params=dict(self.params),
        )
        config = RunConfig(**{k: v for k, v in values.items() if k in fields})
        config.validate()
        return config


class JobStatus(param.Parameterized):
    """Progress of the session's current job, copied from it by :meth:`Session.poll`."""

    state = param.Selector(
        default="idle", objects=["idle", "queued", "running", "done", "failed", "cancelled"]
    )
    stage = param.String(default="")
    position = param.Integer(default=0, doc="1-based place in the queue; 0 = not waiting")
    phase = param.String(default="")
    epoch = param.Integer(default=0)
    n_epochs = param.Integer(default=0)
    progress = param.Integer(default=0, bounds=(0, 100))
    changed = param.Number(default=None, allow_None=True)
    eta = param.Number(default=None, allow_None=True)
    elapsed = param.Number(default=0.0)
    losses = param.List(default=[], doc="one dict per event: step, phase, epoch, losses")
    error = param.String(default="")

    @property
    def active(self) -> bool:
        """Whether a job is queued or running."""
        return self.state in ("queued", "running")

    def reset(self, state: str = "idle") -> None:
        """Clear the progress for a new job."""
        self.param.update(
            state=state, stage="", position=0, phase="", epoch=0, n_epochs=0, progress=0,
            changed=None, eta=None, elapsed=0.0, losses=[], error="",
        )  # fmt: skip

    def add_events(self, events: list) -> None:
        """Fold engine ``Event`` objects into the status (one param update)."""
        if not events:
            return
        rows = list(self.losses)
        for ev in events:
            if ev.losses:
                rows.append({"step": len(rows), "phase": ev.phase, "epoch": ev.epoch, **ev.losses})
        last = events[-1]
        self.param.update(
            phase=last.phase,
            epoch=int(last.epoch),
            n_epochs=int(last.n_epochs),
            changed=last.changed if last.changed is not None else self.changed,
            eta=last.eta,
            elapsed=float(last.elapsed),
            progress=_progress(last),
            losses=rows,
        )


PIPELINE_PROGRESS = {"load": 0, "preprocess": 3, "analysis": 96}


def _progress(ev) -> int:
    """Overall percentage: from elapsed/ETA when known, else from the phase and epoch."""
    if ev.phase == "done":
        return 100
    if ev.eta is not None and ev.elapsed + ev.eta > 0:
        return int(min(95, 5 + 90 * ev.elapsed / (ev.elapsed + ev.eta)))
    if ev.phase in PIPELINE_PROGRESS:
        return PIPELINE_PROGRESS[ev.phase]
    share = ev.epoch / ev.n_epochs if ev.n_epochs else 0.0
    base = {"pretrain": 0.0, "init": 0.5, "joint": 0.5}.get(ev.phase, 0.0)
    return int(min(95, 5 + 90 * (base + 0.5 * share)))


PRESSURE_FIRST = ("sp", "msl", "z")  # regimes are read from pressure maps first


def first_variable(names: list[str]) -> str:
    """The variable the maps show first: a pressure field where there is one."""
    return next((v for v in PRESSURE_FIRST if v in names), names[0])


class Results(param.Parameterized):
    """The run on screen and the linked selection shared by every view.

    ``days`` is the highlighted selection: bool (time,) or None for none; ``origin`` says
    which view made it ("umap", "timeline", "cluster"). ``day`` is the clicked day.
    """

    run = param.Parameter(default=None, doc="dsc_core.runs.Run on screen")
    variable = param.Selector(default=None, objects=[], allow_None=True, doc="Variable")
    kind = param.Selector(default="anomaly", objects=["anomaly", "mean"], doc="Field")
    days = param.Array(default=None, allow_None=True)
    origin = param.String(default="")
    cluster = param.Integer(default=None, allow_None=True)
    day = param.Date(default=None, allow_None=True)
    embedding = param.Array(default=None, allow_None=True, doc="(time, 2) latent projection")
    embedding_kind = param.String(default="")
    version = param.Integer(default=0, doc="bumped on every change of the selection")
    basemap = param.Boolean(default=False, doc="Online tile basemap (needs internet)")

    def __init__(self, **params):
        super().__init__(**params)
        self.batch = contextlib.nullcontext
        """Context manager factory wrapped around a new run, which draws the views anew: the
        app sets it to freeze the Bokeh document, so that the new models are registered in
        one pass."""
        self.in_place = contextlib.nullcontext
        """Context manager factory wrapped around each change of the selection or the clicked
        day, which update the drawn views in place: the app sets it to Panel's ``unlocked``,
        so that the changes of all linked views reach the page in one message."""
        self._composite_cache: tuple[bytes, object] | None = None

    def set_run(self, run) -> None:
        """Show ``run``: reset the selection, project the latent vectors (PCA until UMAP)."""
        names = [v for v in run.fields.data_vars if v != "mask"]
        keep = self.variable in names  # before the widget sees new options and picks one
        self.param.variable.objects = names
        self._composite_cache = None
        with self.batch():
            self.param.update(
                run=run,
                variable=self.variable if keep else first_variable(names),
                days=None,
                origin="",
                cluster=None,
                day=None,
                embedding=jobs.pca2(run.latent.values),
                embedding_kind="PCA (UMAP is being computed)",
                version=self.version + 1,
            )

    @property
    def times(self) -> pd.DatetimeIndex:
        """The run's days."""
        return pd.DatetimeIndex(self.run.labels["time"].values)

    @property
    def labels(self) -> np.ndarray:
        """int (time,) cluster of every day."""
        return np.asarray(self.run.labels.values, dtype=np.int64)

    @property
    def n_clusters(self) -> int:
        """K of the run."""
        return int(self.run.composites.sizes["cluster"])

    def select_days(self, mask, origin: str) -> None:
        """Highlight the days where ``mask`` (bool (time,)) is True; empty → clear."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            self.clear()
            return
        with self.in_place():
            self.param.update(days=mask, origin=origin, cluster=None, version=self.version + 1)

    def select_indices(self, index, origin: str) -> None:
        """Highlight days by position (a UMAP box/lasso selection)."""
        mask = np.zeros(len(self.times), dtype=bool)
        mask[np.asarray(index, dtype=np.int64)] = True
        self.select_days(mask, origin)

    def select_span(self, start, end, origin: str = "timeline") -> None:
        """Highlight the days from ``start`` to ``end`` (inclusive, any date-like)."""
        t0, t1 = sorted([_timestamp(start), _timestamp(end)])
        t = self.times
        self.select_days((t >= t0.normalize()) & (t <= t1), origin)

    def select_cluster(self, cluster: int | None) -> None:
        """Highlight every day of ``cluster``; the same cluster again (or None) clears."""
        if cluster is None or cluster == self.cluster:
            self.clear()
            return
        with self.in_place():
            self.param.update(
                days=self.labels == cluster, origin="cluster", cluster=int(cluster),
                version=self.version + 1,
            )  # fmt: skip

    def clear(self) -> None:
        """No highlighted days."""
        with self.in_place():
            self.param.update(days=None, origin="", cluster=None, version=self.version + 1)

    def pick_day(self, when) -> None:
        """Show the day that contains ``when`` (any date-like; the nearest day if outside)."""
        t = self.times
        i = int(np.abs((t - _timestamp(when).normalize()).total_seconds()).argmin())
        with self.in_place():
            self.day = t[i].to_pydatetime()

    def selection_composite(self):
        """``composite_of_days`` of the highlighted days (None when none), cached per selection."""
        if self.days is None:
            return None
        from dsc_core.composites import composite_of_days

        key = np.packbits(self.days).tobytes()
        cached = self._composite_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        comp = composite_of_days(self.run.fields, self.days)
        self._composite_cache = (key, comp)
        return comp


def _timestamp(value) -> pd.Timestamp:
    """A date-like (datetime, numpy datetime64, ms since epoch) as a naive Timestamp."""
    if isinstance(value, int | float | np.integer | np.floating):
        return pd.Timestamp(float(value), unit="ms")
    ts = pd.Timestamp(value)
    return ts.tz_convert(None) if ts.tzinfo else ts


class Session(param.Parameterized):
    """One browser session: settings, the current job, the results, the list of past runs."""

    runs = param.List(default=[], doc="RunStore.list() summaries, newest first")
    run_name = param.String(default="", doc="name of the run on screen")
    message = param.String(default="", doc="one-line notice for the user")
    engine_ready = param.Boolean(default=False)

    def __init__(self, server: ServerConfig, manager, store, **params):
        super().__init__(**params)
        self.server = server
        self.manager = manager
        self.store = store
        self.settings = Settings(sources=server.sources(), server=server)
        self.status = JobStatus()
        self.results = Results()
        self.job: jobs.Job | None = None
        self._embedding = None
        self._autostart = False
        self.refresh_runs()

    # ---- runs -------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """Re-read the run store's list of past runs."""
        try:
            runs = self.store.list()
        except Exception:  # an unreadable run folder must not break the page
            log.exception("cannot list the run store %s", self.server.run_store)
            runs = []
        self.runs = sorted(runs, key=lambda r: str(r.get("created", "")), reverse=True)

    def load_run(self, name: str) -> None:
        """Show the stored run ``name`` (no retraining)."""
        try:
            run = load_run_cached(self.store, name)
        except DSCError as err:
            self.message = str(err)
            return
        self.show(run)

    def show(self, run) -> None:
        """Put ``run`` on screen and start its UMAP in the background."""
        self.results.set_run(run)
        self.run_name = str(getattr(run, "name", "") or "")
        self._embedding = (run, jobs.embedding_future(run))
        self.message = ""

    # ---- jobs -------------------------------------------------------------------------
    def train(self) -> None:
        """Submit a training of the current settings; a running job of this session stops."""
        try:
            config = self.settings.to_config()
        except DSCError as err:
            self.message = str(err)
            return
        if self.job is not None and not self.job.finished.is_set():
            self.manager.cancel(self.job)
        self.message = ""
        self.status.reset("queued")
        self.job = self.manager.submit(config)
        self.poll()

    def cancel(self) -> None:
        """Stop this session's job (queued or running)."""
        if self.job is not None and not self.job.finished.is_set():
            self.manager.cancel(self.job)
            self.status.stage = "cancelling"

    def close(self) -> None:
        """The browser session ended: cancel its job."""
        self.cancel()

    def open(self) -> None:
        """Session start: show the newest stored run, else start a first run on the sample at
        the first :meth:`poll` (so a server's warm-up session, which is never polled, does
        not train)."""
        if self.runs:
            self.load_run(self.runs[0]["name"])
        elif self.server.autostart:
            self._autostart = True

    def poll(self) -> None:
        """Copy background progress (job events, outcome, UMAP, warm-up) into the state."""
        if self._autostart:
            self._autostart = False
            self.train()
        warm = jobs.warm_up()
        if not self.engine_ready and warm.done():
            if warm.exception() is None:
                options = warm.result()
            else:
                log.error("warm-up failed", exc_info=warm.exception())
                options = jobs.engine_options()
            self.settings.set_engine_options(options)
            self.engine_ready = True
        job = self.job
        if job is not None:
            self.status.add_events(job.drain())
            if job.state != self.status.state or job.stage != self.status.stage:
                self.status.param.update(state=job.state, stage=job.stage)
            position = self.manager.position(job) if job.state == "queued" else 0
            if position != self.status.position:
                self.status.position = position
            if job.finished.is_set():
                self._finish(job)
        if self._embedding is not None and self._embedding[1].done():
            run, future = self._embedding
            self._embedding = None
            if run is self.results.run:
                if future.exception() is None:
                    self.results.param.update(embedding=future.result(), embedding_kind="UMAP")
                else:
                    log.error("UMAP failed", exc_info=future.exception())
                    self.results.embedding_kind = "PCA (UMAP failed: see the server log)"

    def _finish(self, job) -> None:
        self.job = None
        if job.state == "done":
            self.status.param.update(progress=100, phase="done")
            self.refresh_runs()
            self.show(job.run)
        elif job.state == "failed":
            self.status.error = job.error
            self.message = job.error
