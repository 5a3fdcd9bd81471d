"""The settings of the next run (:class:`Settings`), and the size a run of them would read."""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from collections.abc import Sequence
from concurrent import futures

import pandas as pd
import param

from dashboard.caches import describe_cached, io_pool, result_when_done
from dashboard.config import PAGE_RANGES, PAGE_WINDOWS, SAMPLE
from dsc_core.data.calendar import SEASONS, months_text, parse_months
from dsc_core.errors import ConfigError, DataError, DSCError

log = logging.getLogger(__name__)


FALLBACK_METHODS = {"dsc": "Deep Spatiotemporal Clustering"}
SHOWN_AS_IS = (
    "clusters", "method", "deseasonalize", "area_weighting", "preset", "seed", "min_spell",
    "check_stability", "surrogates", "params", "bbox",
)  # fmt: skip
"""``RunConfig`` fields a :class:`Settings` parameter of the same name holds as the run takes
them; the others are translated in :meth:`Settings.to_config` (source, variables, dates,
level, season, window) or passed through from :meth:`Settings.apply`."""


def day(value) -> dt.date | None:
    return None if value in (None, "") else pd.Timestamp(value).date()


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
    first, last = day(info.get("start")), day(info.get("end"))
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


def choosable_levels(info: dict) -> list:
    """The vertical levels a run of a source described by ``info`` must choose from (its one
    vertical dimension with several values); [] when there is nothing to choose."""
    several = [values for values in (info.get("levels") or {}).values() if len(values) > 1]
    return list(several[0]) if len(several) == 1 else []


def pick_level(levels: list, wanted=None):
    """``wanted`` when it is one of ``levels``, else 500 (hPa) where there is one, else the
    first; None when there are no levels to choose from."""
    if not levels:
        return None
    for choice in (wanted, 500):
        for value in levels:
            if choice is not None and (str(value) == str(choice) or _same_number(value, choice)):
                return value
    return levels[0]


def _same_number(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


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
    level = param.Selector(
        default=None, objects=[None], allow_None=True,
        doc="Vertical level, for data on several (e.g. pressure levels); None: a single level",
    )  # fmt: skip
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
        self._unshown: dict = {}
        self.sources = sources or {"Built-in sample (SYNTHETIC)": SAMPLE}
        self.param.source.objects = list(self.sources.values())
        self.apply(server.default_run if server else {})

    def _label(self, text: str) -> str:
        return self._server.label(text) if self._server else text

    def apply(self, overrides: dict) -> None:
        """Start from RunConfig's defaults (the engine decides what a good run is), then
        ``overrides`` (the server's ``DSC_DEFAULT_RUN``, or an interrupted run's settings).
        Every ``RunConfig`` field is kept: those the page shows set its controls (the data,
        variables, dates and level once the source is described), the others (e.g.
        ``memory_budget``, ``device``) go to the run as given. The page checks a second
        seed unless told otherwise."""
        from dsc_core.run_config import RunConfig

        defaults = {**RunConfig().to_dict(), "check_stability": True, **overrides}
        self._unshown = {n: v for n, v in defaults.items() if n not in self.param and n != "data"}
        self.months = self._month_choice(defaults["months"])
        for name in SHOWN_AS_IS:
            value = defaults[name]
            if value is None and name != "bbox":
                continue
            if name in ("method", "preset") and value not in self.param[name].objects:
                self.param[name].objects = [*self.param[name].objects, value]
            setattr(self, name, value)
        window = defaults["window"] or 0
        if window not in self.param.window.objects:
            self.param.window.objects = [*self.param.window.objects, window]
        self.window = window
        self._wanted = {k: defaults[k] for k in ("variables", "start", "end", "level")}
        source = defaults["data"]
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
            info = result_when_done(future, timeout)
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
        first, last = day(info["start"]), day(info["end"])
        # labels escaped: Bokeh's MultiChoice inserts option labels as HTML
        self.param.variables.objects = {html.escape(n): n for n in names}
        self.param.start.bounds = self.param.end.bounds = (first, last)
        wanted, self._wanted = self._wanted, {}
        chosen = [v for v in wanted.get("variables") or [] if v in names]
        start, end = (day(wanted.get(k)) for k in ("start", "end"))
        levels = choosable_levels(info)
        self.param.level.objects = levels or [None]
        self.param.update(
            error="",
            info=info,
            level=pick_level(levels, wanted.get("level")),
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
        from dsc_core.run_config import RunConfig

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
        config = RunConfig.from_dict(
            {
                **self._unshown,
                **{name: getattr(self, name) for name in SHOWN_AS_IS},
                "data": source,
                "variables": list(self.variables) or None,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "level": self.level,
                "months": parse_months(self.months),
                "window": self.window or None,
                "bbox": tuple(self.bbox) if self.bbox else None,
                "params": dict(self.params),
            }
        )
        config.validate()
        if self._server:
            self._server.check_size(*self.size(), method=self.method)
        return config
