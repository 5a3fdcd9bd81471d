"""Shared look of the views: cluster colours, colour maps, map helpers."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import numpy as np

hv.Store.set_current_backend("bokeh")

CLUSTER_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


def cluster_color(k: int) -> str:
    """Colour of cluster ``k`` (the same in every view)."""
    return CLUSTER_COLORS[int(k) % len(CLUSTER_COLORS)]


def cluster_colors(labels) -> np.ndarray:
    """Colour string of every entry of ``labels`` (int array)."""
    return np.asarray(CLUSTER_COLORS, dtype=object)[np.asarray(labels) % len(CLUSTER_COLORS)]


def field_label(fields, variable: str, kind: str) -> str:
    """Colour-bar label: short name, the kind of field and its units (e.g. "sst anomaly [K]")."""
    units = fields[variable].attrs.get("units", "")
    what = "anomaly" if kind == "anomaly" else "mean"
    return f"{variable} {what} [{units}]" if units else f"{variable} {what}"


def color_range(values: np.ndarray, kind: str) -> tuple[float, float]:
    """Colour limits shared by maps: symmetric about 0 for anomalies."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0)
    if kind == "anomaly":
        m = float(np.percentile(np.abs(v), 99)) or 1.0
        return (-m, m)
    lo, hi = float(np.percentile(v, 1)), float(np.percentile(v, 99))
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)


def cmap_for(kind: str) -> str:
    """Diverging colour map for anomalies, sequential for means."""
    return "RdBu_r" if kind == "anomaly" else "viridis"


def fmt_day(t) -> str:
    """``YYYY-MM-DD`` of a date-like."""
    return str(np.datetime_as_string(np.datetime64(t, "D")))
