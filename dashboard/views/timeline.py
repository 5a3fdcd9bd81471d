"""The cluster timeline: every day a coloured cell (hover: date, cluster, certainty), the
model's certainty (max q) below; drag a span to select days, click a day to show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from dashboard.results import Results
from dashboard.views.live import Live, live_view
from dashboard.views.style import cluster_colors

DAY = pd.Timedelta(days=1)
CORNERS = ["date", "band", "date_end", "band_end"]
"""The timeline frame's columns that are a day's cell's left, bottom, right and top."""


def timeline_frame(results: Results) -> pd.DataFrame:
    """One row per day: cell corners, cluster, colour, date text, certainty (max q)."""
    t = results.times
    return pd.DataFrame(
        {
            "date": t,
            "band": np.zeros(len(t)),
            "date_end": t + DAY,
            "band_end": np.ones(len(t)),
            "cluster": results.labels,
            "color": cluster_colors(results.labels),
            "day": t.strftime("%Y-%m-%d"),
            "certainty": results.run.soft.values.max(axis=1),
        }
    )


def timeline_limits(results: Results) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The x range of the timeline: its days, padded by a hundredth of their span each side."""
    t = results.times
    pad = (t[-1] + DAY - t[0]) / 100
    return t[0] - pad, t[-1] + DAY + pad


def cell_columns(results: Results) -> dict[str, np.ndarray]:
    """The "cells" data source as HoloViews draws it: the glyph's corners, and every column of
    :func:`timeline_frame`."""
    df = timeline_frame(results)
    columns = {column: df[column].to_numpy() for column in df}
    corners = zip(("left", "bottom", "right", "top"), CORNERS, strict=True)
    return {name: columns[column] for name, column in corners} | columns


def mark_columns(results: Results) -> dict[str, np.ndarray]:
    """Corners of the marks under the highlighted days (the "marks" data source)."""
    t = results.times[results.days] if results.days is not None else results.times[:0]
    low, high = np.full(len(t), -0.5), np.full(len(t), -0.1)
    return {"left": t.values, "bottom": low, "right": (t + DAY).values, "top": high}


def day_line(results: Results) -> tuple[pd.Timestamp, float]:
    """Where the clicked day's line is drawn and its opacity (0: no day clicked)."""
    if results.day is None:
        return results.times[0], 0.0
    return pd.Timestamp(results.day), 1.0


def timeline_plot(results: Results, live: Live, width: int = 1100):
    """The strip (with span selection and tap) over the certainty curve, sharing the x axis;
    marks under the highlighted days and a line at the clicked day (layers "marks" and "day"
    of ``live``, see :func:`follow`)."""
    import holoviews as hv

    df = timeline_frame(results)
    xlim = timeline_limits(results)
    cells = hv.Rectangles(df, CORNERS, ["cluster", "color", "day", "certainty"]).opts(
        color="color",
        line_color=None,
        tools=["hover", "xbox_select", "tap"],
        active_tools=["xbox_select"],
        hover_tooltips=[("date", "@day"), ("cluster", "@cluster"), ("max q", "@certainty{0.00}")],
        nonselection_alpha=1.0,
        selection_alpha=1.0,
        xlim=xlim,
        ylim=(-0.6, 1.05),
        yaxis=None,
        width=width,
        height=110,
        title="Cluster of every day (drag to select a span, click a day)",
        xlabel="",
        hooks=[live.hook("cells")],
    )
    bounds = hv.streams.BoundsX(source=cells)
    bounds.add_subscriber(
        lambda boundsx=None: (
            boundsx is not None and boundsx[0] != boundsx[1] and results.select_span(*boundsx)
        )
    )
    tap = hv.streams.Tap(source=cells)
    tap.add_subscriber(lambda x=None, y=None: x is not None and results.pick_day(x))

    corners = tuple(mark_columns(results).values())
    marks = hv.Rectangles(corners, CORNERS).opts(
        color="black", line_color=None, tools=[], hooks=[live.hook("marks")]
    )
    location, alpha = day_line(results)
    vline = hv.VLine(location).opts(
        color="black", line_width=2, alpha=alpha, hooks=[live.hook("day")]
    )
    certainty = hv.Curve(df, "date", hv.Dimension("certainty", label="max q")).opts(
        color="gray", width=width, height=150, xlim=xlim, ylim=(0, 1.02), tools=["hover"],
        title="Model certainty: soft assignment q of each day's cluster", xlabel="",
        hooks=[live.hook("certainty")],
    )  # fmt: skip
    return (cells * marks * vline + certainty).cols(1)


def follow(results: Results, live: Live) -> None:
    """Show the current selection and clicked day on the drawn plot."""
    live.set_data("marks", mark_columns(results))
    location, alpha = day_line(results)
    live.set_glyph("day", location=location.value / 1e6, line_alpha=alpha)  # ms since 1970


def replace(results: Results, live: Live) -> None:
    """Show another run on the drawn plot: its days' cells, certainty and x range."""
    cells = cell_columns(results)
    live.set_data("cells", cells)
    live.clear_selection("cells")
    live.set_data("certainty", {"date": cells["date"], "certainty": cells["certainty"]})
    xlim = timeline_limits(results)
    live.set_ranges("cells", x=xlim)
    live.set_ranges("certainty", x=xlim)


def timeline_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`timeline_plot`, drawn once and updated in place when the run, the
    selection or the clicked day change."""

    def draw(live: Live):
        return "" if results.run is None else timeline_plot(results, live)

    return live_view(
        results, draw, lambda live: follow(results, live),
        redraw=["run"], update=["version", "day"], sizing_mode="fixed",
        shape=lambda: None, replace=lambda live: replace(results, live),  # any run in place
    )  # fmt: skip
