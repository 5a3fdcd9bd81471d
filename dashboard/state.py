"""The dashboard's state: a few ``param.Parameterized`` classes that the views are functions of.

- :class:`Settings`: the run to train (data source, variables, dates, method, ...).
- :class:`JobStatus`: progress of the session's training job.
- :class:`Results`: the run on screen, the chosen variable, and the linked selection of days.
- :class:`Session`: one browser session: owns the three above, talks to the job manager and
  the run store; :meth:`Session.poll` (a periodic callback on the session's event loop) is
  the only place where background results enter the state.

No file is read on the event loop: describing a data source and reading a stored run happen
in the I/O threads (:func:`io_pool`), and :meth:`Session.poll` applies what they return.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import html
import logging
import math
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent import futures
from pathlib import Path

import numpy as np
import pandas as pd
import param

from dashboard import jobs
from dashboard.config import PAGE_RANGES, PAGE_WINDOWS, SAMPLE, ServerConfig
from dsc_core.data.calendar import SEASONS, months_text, parse_months
from dsc_core.errors import ConfigError, DataError, DSCError

log = logging.getLogger(__name__)

FALLBACK_METHODS = {"dsc": "Deep Spatiotemporal Clustering"}


def _day(value) -> dt.date | None:
    return None if value in (None, "") else pd.Timestamp(value).date()


@functools.cache
def io_pool() -> futures.ThreadPoolExecutor:
    """The threads that read files for the sessions of this process (describe, stored runs)."""
    return futures.ThreadPoolExecutor(2, thread_name_prefix="dsc-io")


def describe_cached(source: str) -> dict:
    """``dsc_core.data.describe(source)``, remembered per source and modification time (the
    sample's description never changes), so that a new session does not rebuild the sample."""
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


def _result(future: futures.Future, timeout: float | None):
    """``future``'s result once done (waiting up to ``timeout`` s; None: until done), else
    None; its exception is raised."""
    done, _ = futures.wait([future], timeout)
    return future.result() if done else None


def _cells(n: int, extent: tuple[float, float], lo: float, hi: float) -> int:
    """Grid points of an axis of ``n`` points over ``extent`` that fall between lo and hi."""
    span = extent[1] - extent[0]
    if span <= 0:
        return n
    share = max(0.0, min(extent[1], hi) - max(extent[0], lo)) / span
    return min(n, math.ceil(n * share) + 1)


def read_size(
    info: dict,
    start: dt.date | None,
    end: dt.date | None,
    bbox,
    n_variables: int,
    months: Sequence[int] | None = None,
) -> tuple[int, int, int]:
    """Days, grid cells and variables that reading ``start``–``end`` (the months ``months``)
    of the box ``bbox`` of a source described by ``info`` (``dsc_core.data.describe``)
    reads, estimated from the box's share of the grid."""
    days = int(info["n_days"])
    first, last = _day(info.get("start")), _day(info.get("end"))
    if first and last and (start or end or months):
        dates = pd.date_range(max(start or first, first), min(end or last, last))
        if months:
            dates = dates[dates.month.isin(list(months))]
        days = min(days, len(dates))
    ny, nx = info["shape"]
    if bbox:
        lat0, lat1, lon0, lon1 = bbox
        ny = _cells(ny, info["latitude"], lat0, lat1)
        nx = _cells(nx, info["longitude"], lon0, lon1)
    return days, int(ny * nx), n_variables


class Settings(param.Parameterized):
    """What the next training uses; ``info`` is ``dsc_core.data.describe`` of the source, read
    in the background (``ready`` until then False; :meth:`poll` applies it)."""

    source = param.Selector(default=SAMPLE, objects=[SAMPLE], doc="Data source")
    variables = param.ListSelector(default=[], objects=[], doc="Variables")
    start = param.CalendarDate(default=None, allow_None=True, doc="First day")
    end = param.CalendarDate(default=None, allow_None=True, doc="Last day")
    months = param.Selector(
        default="all year", objects=["all year", *SEASONS], doc="Season (months) to cluster"
    )
    clusters = param.Integer(default=4, bounds=PAGE_RANGES["clusters"], doc="Number of clusters")
    method = param.Selector(default="dsc", objects=["dsc"], doc="Method")
    window = param.Selector(
        default=0, objects=list(PAGE_WINDOWS), doc="Window length (days; 0: the preset's)"
    )
    bbox = param.List(default=None, allow_None=True, doc="(lat_min, lat_max, lon_min, lon_max)")
    deseasonalize = param.Boolean(default=True, doc="Remove the seasonal cycle")
    area_weighting = param.Boolean(default=True, doc="Weight grid cells by area (cos latitude)")
    preset = param.Selector(default="default", objects=["default"], doc="Model preset")
    seed = param.Integer(default=0, bounds=PAGE_RANGES["seed"], doc="Random seed")
    min_spell = param.Integer(
        default=1,
        bounds=PAGE_RANGES["min_spell"],
        doc="Shortest spell (days); shorter ones join a neighbour",
    )
    check_stability = param.Boolean(default=True, doc="Train a second seed to check agreement")
    surrogates = param.Integer(
        default=0,
        bounds=PAGE_RANGES["surrogates"],
        doc="Red-noise surrogates the method also clusters (0: none)",
    )
    info = param.Dict(default={}, doc="describe() of the source")
    error = param.String(default="", doc="Why the source cannot be used")
    method_help = param.Dict(default=dict(FALLBACK_METHODS))
    params = param.Dict(default={}, doc="extra estimator settings (RunConfig.params)")

    def __init__(self, sources: dict[str, str] | None = None, server=None, **params):
        super().__init__(**params)
        self._server = server
        self._pending: futures.Future | None = None
        self._wanted: dict = {}
        self.sources = sources or {"Built-in sample (SYNTHETIC)": SAMPLE}
        self.param.source.objects = list(self.sources.values())
        self.apply(server.default_run if server else {})

    def _label(self, text: str) -> str:
        return self._server.label(text) if self._server else text

    def apply(self, overrides: dict) -> None:
        """Start from RunConfig's defaults (the engine decides what a good run is), then
        ``overrides`` (the server's ``DSC_DEFAULT_RUN``, or an interrupted run's settings); the
        variables and dates apply once the source is described."""
        from dsc_core.pipeline import RunConfig

        defaults = {**RunConfig().to_dict(), **overrides}
        names = ["method", "window", "deseasonalize", "preset", "seed", "clusters", "params"]
        names += ["min_spell", "area_weighting", "surrogates"]
        names += ["bbox", *(["check_stability"] if "check_stability" in overrides else [])]
        self.months = self._month_choice(defaults.get("months"))
        for name in names:
            value = defaults.get(name)
            if value is None and name != "bbox":
                continue
            if name in ("method", "preset", "window") and value not in self.param[name].objects:
                self.param[name].objects = [*self.param[name].objects, value]
            if name == "bbox" and value is not None:
                value = [float(v) for v in value]
            setattr(self, name, value)
        self._wanted = {k: defaults.get(k) for k in ("variables", "start", "end")}
        source = defaults.get("data", SAMPLE)
        if source in self.param.source.objects and source != self.source:
            self.source = source  # describes it
        else:
            self.describe()

    def _month_choice(self, months) -> str:
        """The season picker's entry for ``months`` (a list of other months is added)."""
        label = months_text(months)
        if label not in self.param.months.objects:
            self.param.months.objects = [*self.param.months.objects, label]
        return label

    def set_engine_options(self, options: dict) -> None:
        """Fill the method and preset choices from ``jobs.engine_options()`` (the presets this
        server offers only, DSC_PRESETS)."""
        self.method_help = dict(options["methods"])
        self.param.method.objects = list(options["methods"])
        allowed = self._server.presets if self._server else options["presets"]
        presets = [p for p in options["presets"] if p in allowed]
        self.param.preset.objects = presets
        if self.preset not in presets and presets:
            self.preset = "default" if "default" in presets else presets[0]

    @param.depends("source", watch=True)
    def describe(self) -> None:
        """Start reading what the source holds in an I/O thread; :meth:`poll` applies it. The
        built-in sample is no file: it is described at once (built once per process, by the
        server's warm-up session)."""
        self.param.update(info={}, error="")
        if self.source == SAMPLE:
            self._pending = futures.Future()
            self._pending.set_result(describe_cached(SAMPLE))
        else:
            self._pending = io_pool().submit(self._read, self.source)

    def _read(self, source: str) -> dict:
        return describe_cached(self._server.check_source(source) if self._server else source)

    @property
    def ready(self) -> bool:
        """Whether the source's description has been applied."""
        return self._pending is None

    def poll(self, timeout: float | None = 0) -> None:
        """Apply the source's description once read (waiting up to ``timeout`` s; None: until
        it is): variables, dates and their bounds; errors → ``error``, one line."""
        if self._pending is None:
            return
        future = self._pending
        try:
            info = _result(future, timeout)
        except DSCError as err:
            self._fail(self._label(str(err)))
            return
        except Exception as err:  # an unreadable file is a user problem, not a crash
            log.error("describe(%s) failed", self.source, exc_info=err)
            name = type(err).__name__
            self._fail(f"cannot read {self._label(self.source)} ({name}): see the server log")
            return
        if info is None:
            return
        self._pending = None
        names = list(info["variables"])
        first, last = _day(info["start"]), _day(info["end"])
        # labels escaped: Bokeh's MultiChoice inserts option labels as HTML
        self.param.variables.objects = {html.escape(n): n for n in names}
        self.param.start.bounds = self.param.end.bounds = (first, last)
        wanted, self._wanted = self._wanted, {}
        chosen = [v for v in wanted.get("variables") or [] if v in names]
        start, end = (_day(wanted.get(k)) for k in ("start", "end"))
        self.param.update(
            error="",
            info=info,
            variables=chosen or names,
            start=start if start and first <= start <= last else first,
            end=end if end and first <= end <= last else last,
        )

    def _fail(self, message: str) -> None:
        self._pending = None
        self.param.variables.objects = []
        self.param.update(error=message, info={}, variables=[])

    @property
    def synthetic(self) -> bool:
        """Whether the source is synthetic (the built-in sample)."""
        return bool(self.info.get("synthetic")) or self.source == SAMPLE

    def size(self) -> tuple[int, int, int]:
        """Days, grid cells and variables a run of these settings reads (estimated from
        ``info``: the box's share of the grid)."""
        n_variables = len(self.variables) or len(self.info["variables"])
        return read_size(self.info, self.start, self.end, self.bbox, n_variables)

    def to_config(self):
        """The ``RunConfig`` of these settings, validated: DSCError on bad input, a preset
        this server does not offer, or a run over its size limit."""
        from dsc_core.pipeline import RunConfig

        if not self.ready:
            raise DataError("the data source is still being read: train again in a moment")
        if self.error:
            raise DSCError(self.error)
        presets = self._server.presets if self._server else [self.preset]
        if self.preset not in presets:
            raise ConfigError(
                f"preset {self.preset!r} is not offered by this server (DSC_PRESETS="
                f"{','.join(presets)}): choose one of those"
            )
        source = self._server.check_source(self.source) if self._server else self.source
        fields = {f.name for f in dataclasses.fields(RunConfig)}
        values = dict(
            data=source,
            variables=list(self.variables) or None,
            start=self.start.isoformat() if self.start else None,
            end=self.end.isoformat() if self.end else None,
            months=parse_months(self.months),
            clusters=self.clusters,
            method=self.method,
            window=self.window or None,
            bbox=tuple(self.bbox) if self.bbox else None,
            deseasonalize=self.deseasonalize,
            area_weighting=self.area_weighting,
            preset=self.preset,
            seed=self.seed,
            params=dict(self.params),
            min_spell=self.min_spell,
            surrogates=self.surrogates,
            check_stability=self.check_stability,
        )
        config = RunConfig(**{k: v for k, v in values.items() if k in fields})
        config.validate()
        if self._server:
            self._server.check_size(*self.size(), method=self.method)
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


PIPELINE_PROGRESS = {"load": 0, "preprocess": 3, "write": 4, "analysis": 96, "trust": 97}


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
        self.label: Callable[[str], str] = str
        """Names a server path as the page does (a session sets ``ServerConfig.label``): views
        show ``label(str(run.config.data))``, never the path itself."""
        self._composite_cache: tuple[bytes, object] | None = None

    def set_run(self, run) -> None:
        """Show ``run``: reset the selection, project the latent vectors (PCA until UMAP)."""
        names = [v for v in run.fields.data_vars if v != "mask"]
        variable = self.variable if self.variable in names else first_variable(names)
        # Old and new names are offered until the run changes, so that no widget replaces the
        # variable by one that the run on screen lacks; then the new names only.
        self.param.variable.objects = list(dict.fromkeys([*self.param.variable.objects, *names]))
        self._composite_cache = None
        with self.batch():
            self.param.update(
                run=run,
                variable=variable,
                days=None,
                origin="",
                cluster=None,
                day=None,
                embedding=jobs.pca2(run.latent.values),
                embedding_kind="PCA (UMAP is being computed)",
                version=self.version + 1,
            )
        self.param.variable.objects = names

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
    size = read_size(info, _day(start), _day(end), config.bbox, n_variables, config.months)
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
        self._apply("_loading", self.show, "cannot read that run (a damaged run folder?)")
        self._apply("_comparing", lambda result: setattr(self, "comparison", result),
                    "cannot compare with that run (a damaged run folder?)")  # fmt: skip
        self._apply("_assigning", lambda result: setattr(self, "assigned", result),
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

    def _apply(self, name: str, use: Callable, failure: str) -> None:
        """Once the I/O thread's future in attribute ``name`` is done: ``use(result)``; a
        DSCError becomes the page's message, anything else (a damaged file must not break the
        page) ``failure`` and the server log."""
        future = getattr(self, name)
        if future is None or not future.done():
            return
        setattr(self, name, None)
        try:
            use(future.result())
        except DSCError as err:
            self.notify(str(err))
        except Exception as err:
            log.error(failure, exc_info=err)
            self.message = f"{failure}: see the server log"

    def _poll_job(self) -> None:
        ended = {j.id for j in getattr(self.manager, "adopted", []) if j.finished.is_set()}
        if any(entry["id"] in ended for entry in self.adopted):
            self.refresh_runs()
        for job in [j for j in self._earlier if j.finished.is_set()]:
            self._earlier.remove(job)
            if job.state == "done":
                self.refresh_runs()
        job = self.job
        if job is None:
            return
        self.status.add_events(job.drain())
        stage = self.server.label(job.stage)
        if job.state != self.status.state or stage != self.status.stage:
            self.status.param.update(state=job.state, stage=stage)
        position = self.manager.position(job) if job.state == "queued" else 0
        if position != self.status.position:
            self.status.position = position
        if not job.finished.is_set():
            return
        self.job = None
        if job.state == "done" and isinstance(job.run, pd.DataFrame):
            self.status.param.update(progress=100, phase="done")
            unmeasured = [k for k in job.config.ks if k not in job.run.index]
            if unmeasured:
                self.k_settings += (
                    f"; K {unmeasured[0]}–{unmeasured[-1]} not measured: the server's time "
                    f"budget of {self.server.measure_k_minutes} min (DSC_MEASURE_K_MINUTES) ran out"
                )
            self.k_table = job.run
        elif job.state == "done":
            self.status.param.update(progress=100, phase="done")
            self.refresh_runs()
            self.show(job.run)
        elif job.state == "failed":
            self.status.error = self.server.label(job.error)
            self.notify(job.error)
