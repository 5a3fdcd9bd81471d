"""The run on screen and the linked selection of days every view shows (:class:`Results`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import param

from dashboard import jobs

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
